/* A certificate's QR payload checked in the browser (WebCrypto Ed25519), with no server call. */
(function () {
  "use strict";
  var A = window.Alluvial;
  var t = A.t;
  var PREFIX = "KPC1";
  var FIELDS = ["v", "kid", "no", "iss", "auth", "org", "exp", "imp", "dst", "ct", "usd", "n",
    "hs", "di", "de", "ev", "ovr", "rep"];
  var STORE = "kp-certificate-keys";
  var result = document.getElementById("payload-result");
  var pageNumber = JSON.parse(document.getElementById("page-number").textContent);

  /* The published keys came with the page; kept so that a later check works offline too. */
  function publishedKeys() {
    var keys = JSON.parse(document.getElementById("public-keys").textContent);
    try {
      if (keys && keys.keys && keys.keys.length) {
        window.localStorage.setItem(STORE, JSON.stringify(keys));
      } else {
        keys = JSON.parse(window.localStorage.getItem(STORE) || "{\"keys\": []}");
      }
    } catch (err) { /* storage refused: the page's own copy is enough */ }
    return (keys && keys.keys) || [];
  }
  var keys = publishedKeys();

  function unb64u(text) {
    if (!/^[A-Za-z0-9_-]+$/.test(text)) { throw new Error("base64url"); }
    var s = text.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) { s += "="; }
    var raw = atob(s);
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { out[i] = raw.charCodeAt(i); }
    return out;
  }

  async function verify(payload) {
    var parts = payload.trim().split(".");
    if (parts.length !== 3 || parts[0] !== PREFIX) { return { ok: false, reason: "format" }; }
    var body, signature, fields;
    try {
      body = unb64u(parts[1]);
      signature = unb64u(parts[2]);
      fields = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
    } catch (err) {
      return { ok: false, reason: "format" };
    }
    var names = Object.keys(fields || {}).sort();
    if (names.join() !== FIELDS.slice().sort().join()) { return { ok: false, reason: "format" }; }
    var jwk = keys.filter(function (k) { return k.kid === fields.kid; })[0];
    if (!jwk) { return { ok: false, reason: "unknown_key", fields: fields }; }
    if (!window.crypto || !window.crypto.subtle) { return { ok: false, reason: "no_crypto" }; }
    var key = await window.crypto.subtle.importKey(
      "jwk", { kty: "OKP", crv: "Ed25519", x: jwk.x }, { name: "Ed25519" }, false, ["verify"]
    );
    var ok = await window.crypto.subtle.verify({ name: "Ed25519" }, key, signature, body);
    return { ok: ok, reason: ok ? null : "signature", fields: fields };
  }

  function show(outcome) {
    while (result.firstChild) { result.removeChild(result.firstChild); }
    var valid = outcome.ok && (!pageNumber || outcome.fields.no === pageNumber);
    result.dataset.verdict = valid ? "valid" : "invalid";
    result.className = "verdict verdict-" + (valid ? "valid" : "voided");
    var reason = outcome.ok ? "cert.payload_other_number" : "cert.payload_" + outcome.reason;
    result.appendChild(A.el("p", valid ? t("cert.payload_valid") : t(reason)));
    if (outcome.ok) {
      var dl = A.el("dl", null, { class: "record" });
      [["number", "no"], ["exporter", "exp"], ["importer", "imp"], ["carats", "ct"],
       ["usd_value", "usd"], ["issue_date", "di"], ["expiry_date", "de"]].forEach(function (f) {
        dl.appendChild(A.el("dt", t("cert.f_" + f[0])));
        dl.appendChild(A.el("dd", outcome.fields[f[1]]));
      });
      result.appendChild(dl);
      result.appendChild(A.el("p", t("cert.payload_status_note"), { class: "note" }));
    }
  }

  document.getElementById("check-payload").addEventListener("click", async function () {
    var text = document.getElementById("payload").value;
    if (!text.trim()) { return; }
    try {
      show(await verify(text));
    } catch (err) {
      show({ ok: false, reason: "format" });
    }
  });
})();
