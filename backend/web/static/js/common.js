/* Shared by the pages' scripts: messages, API reads with the session cookie, CSV downloads. */
(function () {
  "use strict";
  var M = JSON.parse(document.getElementById("messages").textContent);
  var lang = document.documentElement.lang || "en";

  function t(key, values) {
    var text = M[key] === undefined ? key : M[key];
    return text.replace(/\{(\w+)\}/g, function (_, name) {
      return values && values[name] !== undefined ? values[name] : "";
    });
  }

  async function getJSON(url) {
    var response = await fetch(url, {
      credentials: "same-origin", headers: { Accept: "application/json" }
    });
    if (response.status === 401) {
      window.location.assign("/signin?next=" + encodeURIComponent(window.location.pathname));
      throw new Error("signed out");
    }
    if (!response.ok) {
      var error = new Error(String(response.status));
      error.status = response.status;
      throw error;
    }
    return response.json();
  }

  function el(tag, text, attrs) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    return node;
  }

  function number(value) {
    if (value === null || value === undefined || value === "") { return "—"; }
    return Number(value).toLocaleString(lang);
  }

  function percent(share) {
    if (share === null || share === undefined || share === "") { return "—"; }
    return (Number(share) * 100).toLocaleString(lang, { maximumFractionDigits: 1 }) + " %";
  }

  function csvCell(value) {
    var s = value === null || value === undefined ? "" : String(value);
    return /[",\n]/.test(s) ? "\"" + s.replace(/"/g, "\"\"") + "\"" : s;
  }

  function downloadCSV(filename, header, rows) {
    var lines = [header].concat(rows).map(function (r) { return r.map(csvCell).join(","); });
    var blob = new Blob([lines.join("\r\n") + "\r\n"], { type: "text/csv;charset=utf-8" });
    var a = el("a", null, { href: URL.createObjectURL(blob), download: filename });
    document.body.appendChild(a);
    a.click();
    document.body.removeChild(a);
  }

  window.Alluvial = {
    t: t, getJSON: getJSON, el: el, number: number, percent: percent, downloadCSV: downloadCSV,
    lang: lang
  };
})();
