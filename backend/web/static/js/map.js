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
  var periodSelect = document.getElementById("f-period");

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
  var spotLayer = L.layerGroup().addTo(map);
  var siteCentres = {};
  var SUPERVISORS = ["admin", "ministry", "field_officer", "auditor"];

  /* Supervisors see the district's spot-check plan: the sites ranked by risk, with reasons. */
  async function refreshSpotChecks(district) {
    var section = document.getElementById("spot-checks");
    var list = section.querySelector("ol");
    while (list.firstChild) { list.removeChild(list.firstChild); }
    spotLayer.clearLayers();
    section.hidden = true;
    if (!district || SUPERVISORS.indexOf(node.dataset.role) < 0) { return; }
    var response = await fetch("/api/v1/insight/spot-checks?district=" +
      encodeURIComponent(district), { credentials: "same-origin",
      headers: { Accept: "application/json" } });
    if (!response.ok) { return; }
    var plan = await response.json();
    plan.sites.filter(function (s) { return Number(s.score) > 0; }).slice(0, 10)
      .forEach(function (s) {
        var item = document.createElement("li");
        item.setAttribute("data-site", s.site_id);
        var link = text("a", s.name || s.site_id);
        link.href = "/sites/" + s.site_id;
        item.appendChild(link);
        item.appendChild(document.createTextNode(" · " + t("spot.score", { score: s.score }) +
          " · " + s.reasons.map(function (r) { return t("spot.r_" + r.code); }).join(", ")));
        list.appendChild(item);
        if (siteCentres[s.site_id]) {
          spotLayer.addLayer(L.circleMarker(siteCentres[s.site_id], {
            className: "spot-check", radius: 10, weight: 3, fill: false, interactive: false
          }));
        }
      });
    section.hidden = list.children.length === 0;
  }

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

  var districtGeo = null;
  var production = {};  /* district code -> carats bought in the chosen period */
  var SHADES = ["#fee391", "#fec44f", "#fe9929", "#d95f0e", "#993404"];

  function districtPopup(f) {
    var box = document.createElement("div");
    box.appendChild(text("strong", districtName(f.properties.code)));
    if (periodSelect.value) {
      var carats = production[f.properties.code] || "0";
      box.appendChild(text("p", t("map.district_production", {
        period: periodSelect.value, carats: Number(carats).toLocaleString(document.documentElement.lang)
      })));
    }
    return box;
  }

  function drawBoundaries(country, districts) {
    L.geoJSON(country, {
      interactive: false,
      style: { className: "country", color: "#1a1a1a", weight: 2, fill: true,
               fillColor: "#f4efe4", fillOpacity: 1 }
    }).addTo(countryLayer);
    districtGeo = L.geoJSON(districts, {
      style: { className: "district", color: "#555555", weight: 1, fillOpacity: 0 },
      onEachFeature: function (f, layer) {
        layer.bindPopup(function () { return districtPopup(f); });
      }
    }).addTo(districtLayer);
    districtGeo.eachLayer(function (layer) {
      var el = layer.getElement && layer.getElement();
      if (el) { el.setAttribute("data-code", layer.feature.properties.code); }
    });
  }

  /* Production shading: carats bought per district in one quarter, in five equal classes. */
  function shade() {
    var legend = document.getElementById("shading-legend");
    var list = legend.querySelector("ul");
    while (list.firstChild) { list.removeChild(list.firstChild); }
    var values = Object.keys(production).map(function (k) { return Number(production[k]); });
    var max = Math.max.apply(null, values.concat([0]));
    districtGeo.eachLayer(function (layer) {
      var code = layer.feature.properties.code;
      var carats = Number(production[code] || 0);
      var shaded = Boolean(periodSelect.value) && carats > 0 && max > 0;
      var cls = shaded ? Math.min(SHADES.length - 1, Math.floor(carats / max * SHADES.length)) : -1;
      layer.setStyle({ fillColor: shaded ? SHADES[cls] : "#000000", fillOpacity: shaded ? 0.7 : 0 });
      var el = layer.getElement && layer.getElement();
      if (el) {
        el.setAttribute("data-carats", periodSelect.value ? String(production[code] || "0") : "");
      }
    });
    legend.hidden = !periodSelect.value;
    if (!periodSelect.value) { return; }
    SHADES.forEach(function (colour, i) {
      var item = document.createElement("li");
      var swatch = text("span", "", "swatch");
      swatch.style.background = colour;
      swatch.style.borderColor = "#555555";
      swatch.setAttribute("aria-hidden", "true");
      item.appendChild(swatch);
      item.appendChild(document.createTextNode(t("map.shading_class", {
        low: (max * i / SHADES.length).toFixed(2), high: (max * (i + 1) / SHADES.length).toFixed(2)
      })));
      list.appendChild(item);
    });
  }

  async function refreshProduction() {
    production = {};
    var period = periodSelect.value;
    if (period) {
      var base = "/api/v1/insight/statistics?by=district&period=quarter&limit=1000&from=" +
        period + "&to=" + period;
      var url = base;
      while (url) {  /* every page: a country with more districts than a page still adds up */
        var response = await fetch(url, { credentials: "same-origin",
          headers: { Accept: "application/json" } });
        if (!response.ok) { break; }
        var body = await response.json();
        body.items.forEach(function (row) {
          if (row.district) { production[row.district] = row.carats; }
        });
        url = body.next_cursor ? base + "&cursor=" + encodeURIComponent(body.next_cursor) : null;
      }
    }
    shade();
    var total = Object.keys(production).reduce(function (sum, k) {
      return sum + Number(production[k]);
    }, 0);
    node.dataset.production = period ? String(total) : "";
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
      siteCentres[f.id] = shape.getBounds().getCenter();
      var marker = L.circleMarker(siteCentres[f.id], {
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

  function quarterKeys(count) {
    var now = new Date();
    var year = now.getUTCFullYear();
    var q = Math.floor(now.getUTCMonth() / 3) + 1;
    var out = [];
    for (var i = 0; i < count; i++) {
      out.push(year + "-Q" + q);
      q -= 1;
      if (q === 0) { q = 4; year -= 1; }
    }
    return out;
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
        refreshProduction().then(function () { return null; }),
        getAll(query("/api/v1/licences", {
          kind: "artisanal_mining", district: district, status: licenceStatus, limit: "1000"
        })),
        getAll(query("/api/v1/sites", { district: district, limit: "1000" }))
      ]);
      if (mine !== generation) { return; }
      results.shift();
      var licences = results[0];
      var licenceById = {};
      licences.forEach(function (l) { licenceById[l.id] = l; });
      /* With a licence status chosen, only sites under a licence of that status remain. */
      var sites = licenceStatus ? results[1].filter(function (s) {
        return Boolean(licenceById[s.properties.licence_id]);
      }) : results[1];
      drawLicences(licences);
      drawSites(sites, licenceById);
      await refreshSpotChecks(district);
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
    quarterKeys(8).forEach(function (key) {
      var option = document.createElement("option");
      option.value = key;
      option.textContent = key;
      periodSelect.appendChild(option);
    });
    districtSelect.addEventListener("change", refresh);
    periodSelect.addEventListener("change", refresh);
    licenceSelect.addEventListener("change", refresh);
    await refresh();
  }

  map.setView([8.5, -11.8], 7);
  start();
})();
