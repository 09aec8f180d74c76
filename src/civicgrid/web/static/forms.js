// Forms of the case pages: no double submits; on the report form, category search and suggestions,
// browser geolocation with a map-pick fallback (cgmap.js: boundaries drawn by ECharts; no tiles).
(function () {
  "use strict";
  const t = (s) => (window.cgT || {})[s] || s;  // strings translated by the page (i18n.JS_STRINGS)
  document.querySelectorAll("form").forEach((f) => f.addEventListener("submit", () => {
    f.querySelectorAll("button[type=submit]").forEach((b) => { b.disabled = true; b.textContent = t("提交中…"); });
  }));
  document.querySelectorAll("input[type=file][data-name]").forEach((i) => i.addEventListener("change", () => {
    const out = document.getElementById(i.dataset.name);
    if (out) out.textContent = i.files.length ? i.files[0].name : (i.dataset.empty || t("未选择照片"));
  }));
  // on a phone: filters folded away (unless some are set), the current queue tab scrolled into view
  const narrow = window.matchMedia("(max-width: 720px)").matches;
  const box = document.querySelector("details.filter-box");
  if (box && narrow && !new URLSearchParams(location.search).toString().match(/(^|&)(q|state|light|source|category|region)=[^&]/)) box.open = false;
  const tab = document.querySelector(".queue-tabs a[aria-current]");
  if (tab && narrow) tab.scrollIntoView({ block: "nearest", inline: "center" });
  // the case page: the case's grid and its point (no tiles; cgmap.js)
  const caseMap = document.getElementById("case-map");
  if (caseMap && window.cgMaps) window.addEventListener("load", () => cgMaps.pointMap(caseMap));
  // "使用当前位置" (#locate-me): the browser's position, or why there is none; the report form and the portal's
  // nearby page share it. The button is rendered disabled: a tap before this script ran would do nothing.
  window.cgLocate = (text, onPoint) => {
    const btn = document.getElementById("locate-me");
    btn.disabled = false;
    btn.removeAttribute("title");
    btn.addEventListener("click", () => {
      if (!navigator.geolocation) { text.textContent = t("浏览器不支持定位,请在地图上点选"); return; }
      text.textContent = t("正在定位…");
      navigator.geolocation.getCurrentPosition((p) => onPoint(p.coords.longitude, p.coords.latitude),
        () => { text.textContent = t("无法获取定位(未授权或无信号),请在地图上点选"); }, { enableHighAccuracy: true, timeout: 10000 });
    });
  };
  const bulk = document.getElementById("bulk-form");
  if (bulk) {
    const count = () => { const n = bulk.querySelectorAll("input.pick:checked").length;
      const out = document.getElementById("bulk-count"); if (out) out.textContent = n; };
    bulk.addEventListener("change", (e) => {
      if (e.target.classList.contains("pick-all")) bulk.querySelectorAll("input.pick").forEach((c) => { c.checked = e.target.checked; });
      count();
    });
    const action = document.getElementById("bulk-action");
    const fit = () => bulk.querySelectorAll("[data-for]").forEach((el) => { el.hidden = el.dataset.for !== action.value; });
    if (action) { action.addEventListener("change", fit); fit(); }
    document.body.addEventListener("htmx:afterSwap", count);
  }
  const form = document.getElementById("report-form");
  if (!form) return;
  const sel = document.getElementById("category"), search = document.getElementById("cat-search");
  const chips = document.getElementById("cat-suggest"), title = document.getElementById("title");
  const pick = (code) => { sel.value = code; sel.dispatchEvent(new Event("change")); };
  chips.addEventListener("click", (e) => { const b = e.target.closest(".chip"); if (b) pick(b.dataset.code); });
  // recent choices on this phone (no server round trip): the last five categories used to report
  const RECENT = "cg-recent-categories", recentBox = document.getElementById("cat-recent");
  const recent = () => { try { return JSON.parse(localStorage.getItem(RECENT) || "[]"); } catch (e) { return []; } };
  const known = new Set([...sel.options].map((o) => o.value));
  const shown = recent().filter((r) => known.has(r.code));
  if (recentBox && shown.length) {
    recentBox.innerHTML = '<span class="muted small">' + t("最近使用:") + '</span>' + shown.map((r) =>
      `<button type="button" class="chip" data-code="${r.code}">${r.name.replace(/[<>&"]/g, "")}</button>`).join("");
    recentBox.addEventListener("click", (e) => { const b = e.target.closest(".chip"); if (b) pick(b.dataset.code); });
  }
  form.addEventListener("submit", () => {
    const o = sel.selectedOptions[0]; if (!o) return;
    const list = [{ code: o.value, name: o.textContent.trim() }, ...recent().filter((r) => r.code !== o.value)].slice(0, 5);
    try { localStorage.setItem(RECENT, JSON.stringify(list)); } catch (e) { /* private mode */ }
  });
  search.addEventListener("input", () => {
    const q = search.value.trim();
    sel.querySelectorAll("option").forEach((o) => { o.hidden = q && !o.textContent.includes(q) && !o.parentElement.label.includes(q); });
    const first = [...sel.options].find((o) => !o.hidden); if (q && first) sel.value = first.value;
  });
  let timer = null;
  const suggest = () => {
    const text = (title.value + " " + (document.getElementById("description").value || "")).trim();
    if (!text) return;
    fetch((form.dataset.suggest || "/api/v1/matters/suggest") + "?" + new URLSearchParams({ text, limit: 3 }), { credentials: "same-origin" })
      .then((r) => r.ok ? r.json() : []).then((list) => {
        chips.innerHTML = list.map((s) => `<button type="button" class="chip" data-code="${s.code}">${s.path.join(" › ")}</button>`).join("");
        if (list.length && !sel.value) pick(list[0].code);
      });
  };
  title.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(suggest, 400); });
  const lon = document.getElementById("lon"), lat = document.getElementById("lat"), crs = document.getElementById("crs");
  const text = document.getElementById("loc-text");
  const setPoint = (x, y, how) => { lon.value = x.toFixed(6); lat.value = y.toFixed(6); crs.value = "wgs84";
    text.textContent = `${how}:${x.toFixed(5)}, ${y.toFixed(5)}`; if (window.cgPick) window.cgPick(x, y); };
  window.cgLocate(text, (x, y) => setPoint(x, y, t("当前位置")));
  const el = document.getElementById("pick-map");
  const draw = () => cgMaps.pickMap(el, form.dataset.boundaries, (x, y) => setPoint(x, y, t("地图选点"))).then((show) => {
    window.cgPick = show;
    if (lon.value) show(+lon.value, +lat.value);
  });
  window.addEventListener("load", draw);
})();
