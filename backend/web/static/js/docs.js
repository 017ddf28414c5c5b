/* The API reference: Swagger UI (vendored) over our own /openapi.json. */
(function () {
  "use strict";
  var node = document.getElementById("swagger");
  window.SwaggerUIBundle({
    url: node.dataset.spec,
    domNode: node,
    deepLinking: true,
    docExpansion: "none",
    defaultModelsExpandDepth: 0,
    tryItOutEnabled: false
  });
})();
