/* The ministry map: districts, licence areas and sites from our API, drawn with Leaflet. */
(function () {
  "use strict";
  var M = JSON.parse(document.getElementById("messages").textContent);
  function t(key, values) {
    var text = M[key] === undefined ? key : M[key];
    return text.replace(/\{(\w+)\}/g, function (_, name) {
      return values && values[name] !== undefined ? values[name] : "";
    });
  }

  var node = document.getElementById("map");
  var status = document.getElementById("map-status");
  var districtSelect = document.getElementById("f-district");
  var licenceSelect = document.getElementById("f-licence");
  var tableBody = document.querySelector("#sites-table tbody");

  var map = L.map(node, {
    zoomSnap: 0.25, zoomControl: false, attributionControl: Boolean(node.dataset.tileUrl)
  });
  L.control.zoom({ zoomInTitle: t("map.zoom_in"), zoomOutTitle: t("map.zoom_out") }).addTo(map);
  map.on("popupopen", function (e) {
    var close = e.popup.getElement().querySelector(".leaflet-popup-close-button");
    if (close) {
      close.setAttribute("aria-label", t("map.close_popup"));
      close.setAttribute("title", t("map.close_popup"));
    }
  });
  if (node.dataset.tileUrl) {
    L.tileLayer(node.dataset.tileUrl, { attribution: node.dataset.tileAttribution }).addTo(map);
  }
  var countryLayer = L.layerGroup().addTo(map);
  var districtLayer = L.layerGroup().addTo(map);
  var licenceLayer = L.layerGroup().addTo(map);
  var siteLayer = L.layerGroup().addTo(map);
  var districtsByCode = {};

  /* Every page of a collection: follow the `next` links the API gives. */
  async function getAll(url) {
    var features = [];
    var next = url;
    while (next) {
      var response = await fetch(next, {
        credentials: "same-origin",
        headers: { Accept: "application/geo+json, application/json" }
      });
      if (response.status === 401) {
        window.location.assign("/signin?next=" + encodeURIComponent("/map"));
        throw new Error("signed out");
      }
      if (!response.ok) {
        throw new Error(String(response.status));
      }
      var body = await response.json();
      features = features.concat(body.features);
      var link = (body.links || []).filter(function (l) { return l.rel === "next"; })[0];
      next = link ? link.href : null;
    }
    return features;
  }

  function query(base, params) {
    var parts = [];
    Object.keys(params).forEach(function (k) {
      if (params[k]) { parts.push(encodeURIComponent(k) + "=" + encodeURIComponent(params[k])); }
    });
    return base + (base.indexOf("?") < 0 ? "?" : "&") + parts.join("&");
  }

  function text(tag, content, className) {
    var el = document.createElement(tag);
    el.textContent = content;
    if (className) { el.className = className; }
    return el;
  }

  function sitePopup(feature, licence) {
    var p = feature.properties;
    var box = document.createElement("div");
    box.appendChild(text("strong", p.name));
    var dl = document.createElement("dl");
    [
      [t("site.district"), districtName(p.district)],
      [t("site.status"), t("site_status." + p.status)],
      [t("site.area"), p.area_ha],
      [t("site.licence"), licence ? licence.properties.number + " (" +
        t("licence_status." + licence.properties.status) + ")" : t("site.unlicensed")]
    ].forEach(function (row) {
      dl.appendChild(text("dt", row[0]));
      dl.appendChild(text("dd", row[1]));
    });
    box.appendChild(dl);
    var a = text("a", t("map.open_record"));
    a.href = "/sites/" + feature.id;
    box.appendChild(a);
    return box;
  }

  function districtName(code) {
    var d = districtsByCode[code];
    return d ? d.properties.name + " (" + code + ")" : (code || "—");
  }

  function drawBoundaries(country, districts) {
    L.geoJSON(country, {
      interactive: false,
      style: { className: "country", color: "#1a1a1a", weight: 2, fill: true,
               fillColor: "#f4efe4", fillOpacity: 1 }
    }).addTo(countryLayer);
    L.geoJSON(districts, {
      style: { className: "district", color: "#555555", weight: 1, fillOpacity: 0 },
      onEachFeature: function (f, layer) {
        layer.bindPopup(text("strong", districtName(f.properties.code)));
      }
    }).addTo(districtLayer);
  }

  function drawLicences(licences) {
    licenceLayer.clearLayers();
    L.geoJSON(licences.filter(function (f) { return f.geometry; }), {
      style: function (f) {
        return { className: "licence-area licence-" + f.properties.status, weight: 1 };
      },
      onEachFeature: function (f, layer) {
        var box = document.createElement("div");
        box.appendChild(text("strong", f.properties.number));
        box.appendChild(text("p", t("licence_status." + f.properties.status) + " · " +
          f.properties.valid_from + " – " + f.properties.valid_to));
        layer.bindPopup(box);
      }
    }).addTo(licenceLayer);
  }

  function drawSites(sites, licenceById) {
    siteLayer.clearLayers();
    while (tableBody.firstChild) { tableBody.removeChild(tableBody.firstChild); }
    sites.forEach(function (f) {
      var licence = f.properties.licence_id ? licenceById[f.properties.licence_id] : null;
      var shape = L.geoJSON(f, { style: { className: "site-area", weight: 1 } });
      var marker = L.circleMarker(shape.getBounds().getCenter(), {
        className: "site", radius: 5, weight: 1
      });
      marker.bindPopup(function () { return sitePopup(f, licence); });
      shape.bindPopup(function () { return sitePopup(f, licence); });
      siteLayer.addLayer(shape);
      siteLayer.addLayer(marker);
      var row = document.createElement("tr");
      var name = document.createElement("td");
      var link = text("a", f.properties.name);
      link.href = "/sites/" + f.id;
      name.appendChild(link);
      row.appendChild(name);
      row.appendChild(text("td", districtName(f.properties.district)));
      row.appendChild(text("td", t("site_status." + f.properties.status)));
      row.appendChild(text("td", f.properties.area_ha));
      row.appendChild(text("td", licence ? licence.properties.number : t("site.unlicensed")));
      tableBody.appendChild(row);
    });
  }

  var generation = 0;
  async function refresh() {
    var mine = ++generation;
    var district = districtSelect.value;
    var licenceStatus = licenceSelect.value;
    status.textContent = t("map.loading");
    node.setAttribute("aria-busy", "true");
    try {
      var results = await Promise.all([
        getAll(query("/api/v1/licences", {
          kind: "artisanal_mining", district: district, status: licenceStatus, limit: "1000"
        })),
        getAll(query("/api/v1/sites", { district: district, limit: "1000" }))
      ]);
      if (mine !== generation) { return; }
      var licences = results[0];
      var licenceById = {};
      licences.forEach(function (l) { licenceById[l.id] = l; });
      /* With a licence status chosen, only sites under a licence of that status remain. */
      var sites = licenceStatus ? results[1].filter(function (s) {
        return Boolean(licenceById[s.properties.licence_id]);
      }) : results[1];
      drawLicences(licences);
      drawSites(sites, licenceById);
      var d = district && districtsByCode[district];
      if (d && d.geometry) {
        map.fitBounds(L.geoJSON(d).getBounds(), { padding: [8, 8] });
      } else if (countryLayer.getLayers().length) {
        map.fitBounds(countryLayer.getLayers()[0].getBounds(), { padding: [8, 8] });
      }
      status.textContent = t("map.shown", { sites: sites.length, licences: licences.length });
      node.dataset.sites = String(sites.length);
      node.dataset.licences = String(licences.length);
    } catch (err) {
      if (mine === generation) { status.textContent = t("map.failed"); }
    } finally {
      node.setAttribute("aria-busy", "false");
      if (mine === generation) { node.dataset.ready = "true"; }
    }
  }

  async function start() {
    try {
      var found = await Promise.all([
        getAll("/api/v1/jurisdictions?level=country"),
        getAll("/api/v1/jurisdictions?level=district&limit=1000")
      ]);
      var districts = found[1];
      districts.sort(function (a, b) { return a.properties.name.localeCompare(b.properties.name); });
      districts.forEach(function (d) {
        districtsByCode[d.properties.code] = d;
        var option = document.createElement("option");
        option.value = d.properties.code;
        option.textContent = d.properties.name;
        districtSelect.appendChild(option);
      });
      drawBoundaries(found[0], districts);
      node.dataset.districts = String(districts.length);
    } catch (err) {
      status.textContent = t("map.failed");
      return;
    }
    districtSelect.addEventListener("change", refresh);
    licenceSelect.addEventListener("change", refresh);
    await refresh();
  }

  map.setView([8.5, -11.8], 7);
  start();
})();
