/* Search by words on the search page: a panel above the image query, results that show
 * where the words are on each picture (the matching text lines' boxes drawn over it).
 *
 * Kept apart from search.js: this file owns the `words`, `label` and `wo` (offset)
 * parameters of the page's URL and its own result list (#words-results); while they
 * are set, the image results are hidden. Answers come from GET search/text/, whose
 * boxes are normalised to the upright picture (0..1), so they are placed in percent of
 * the thumbnail, which keeps the picture's aspect ratio.
 */
(function () {
  "use strict";

  const { api, h, $, showError } = window.VF;
  const side = $(".search-side");
  const results = $("#results");
  if (!side || !results) return;

  const css = h("link", { rel: "stylesheet", href: (document.currentScript && document.currentScript.src.replace(/js\/text-search\.js.*$/, "css/text-search.css")) || "/static/vframe/css/text-search.css" });
  document.head.append(css);

  const input = h("input", { id: "words-q", name: "words", type: "search", maxlength: "256", autocomplete: "off", placeholder: "e.g. checkpoint, 4471-B, \"serial number\"", "aria-label": "Words to find in pictures" });
  const label = h("input", { id: "words-label", name: "label", type: "text", maxlength: "100", autocomplete: "off", placeholder: "label, e.g. tank", "aria-label": "What the picture shows (an ImageNet label)" });
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const form = h(
    "form",
    { id: "words-form", class: "words-form" },
    h("div", { class: "row" }, input, h("button", { type: "submit" }, "Find")),
    h("div", { class: "row" }, label),
    h("p", { class: "muted small" }, "Text read on pictures and video frames (OCR): all words are required; \"a phrase\", a OR b, -word. Or what a picture shows: a label such as tank or assault rifle.")
  );
  const panel = h("section", { class: "panel words-panel", "aria-labelledby": "words-heading" }, h("h2", { id: "words-heading" }, "Search by words"), form, error);
  side.prepend(panel);

  const list = h("div", { id: "words-results", class: "results words-results", "aria-live": "polite", hidden: true });
  const summary = h("p", { class: "muted words-summary" });
  const pager = h("nav", { class: "pager", "aria-label": "Word result pages", hidden: true });
  const block = h("div", { class: "words-block", hidden: true }, summary, list, pager);
  results.before(block);

  function params() {
    const p = new URLSearchParams(location.search);
    return { q: p.get("words") || "", label: p.get("label") || "", offset: Math.max(0, parseInt(p.get("wo") || "0", 10) || 0) };
  }

  function urlFor(state) {
    const p = new URLSearchParams();
    if (state.q) p.set("words", state.q);
    if (state.label) p.set("label", state.label);
    if (state.offset) p.set("wo", String(state.offset));
    for (const key of ["media_type", "collection", "limit"]) {
      const value = new URLSearchParams(location.search).get(key);
      if (value) p.set(key, value);
    }
    return location.pathname + "?" + p.toString();
  }

  function active() {
    const state = params();
    return Boolean(state.q || state.label);
  }

  // The image results and their pager belong to search.js: hidden while words are shown.
  function showMode() {
    const on = active();
    block.hidden = !on;
    results.hidden = on;
    const imagePager = $("#pager");
    if (imagePager && on) imagePager.hidden = true;
    const summaryNode = $("#results-summary");
    if (summaryNode) summaryNode.hidden = on;
  }

  function boxOverlay(lines) {
    return lines.map((line) => {
      const [x1, y1, x2, y2] = line.box;
      return h("span", {
        class: "words-box",
        title: line.text + " (" + Math.round(line.confidence * 100) + "%)",
        style: "left:" + x1 * 100 + "%;top:" + y1 * 100 + "%;width:" + (x2 - x1) * 100 + "%;height:" + (y2 - y1) * 100 + "%",
      });
    });
  }

  function card(hit) {
    const m = hit.media;
    const name = m.original_name || m.sha256.slice(0, 12);
    const lines = hit.text || [];
    const labels = hit.labels || [];
    return h(
      "li",
      { class: "card words-card", dataset: { mediaId: m.id } },
      h(
        "a",
        { class: "words-thumb", href: "/media/" + m.id + "/", title: "Details of " + name },
        h("img", { src: m.thumbnail_url || "", alt: name, loading: "lazy", decoding: "async" }),
        boxOverlay(lines)
      ),
      h("div", { class: "facts" }, h("span", { class: "rank" }, "#" + hit.rank), h("span", { class: "score", title: "Relevance (labels: probability)" }, hit.score.toFixed(3))),
      lines.length ? h("ul", { class: "words-lines" }, lines.map((line) => h("li", { lang: "" }, line.text))) : null,
      labels.length ? h("p", { class: "words-labels small" }, labels.map((l) => l.label + " " + (l.score * 100).toFixed(0) + "%").join(", ")) : null,
      h("div", { class: "card-name" }, h("span", { class: "name" }, name))
    );
  }

  let generation = 0;

  async function run() {
    showMode();
    const state = params();
    input.value = state.q;
    label.value = state.label;
    showError(error, null);
    if (!active()) return;
    const mine = ++generation;
    const query = { q: state.q, label: state.label, offset: state.offset };
    for (const key of ["media_type", "collection", "limit"]) {
      const value = new URLSearchParams(location.search).get(key);
      if (value && !(key === "media_type" && value === "video")) query[key] = value;
    }
    summary.textContent = "Searching…";
    list.setAttribute("aria-busy", "true");
    try {
      const res = await api("search/text/", { query });
      if (mine !== generation) return;
      list.replaceChildren(h("ol", { class: "grid" }, res.results.map(card)));
      const first = res.offset + 1;
      const last = res.offset + res.results.length;
      summary.textContent = res.results.length
        ? "Pictures " + first + "–" + last + (res.has_more ? "" : " (end)") + " of " + res.index_count + " read"
        : res.offset
          ? "No more pictures."
          : "No picture shows these words.";
      list.hidden = false;
      const prev = h("a", { class: "button", href: urlFor({ ...state, offset: Math.max(0, state.offset - res.limit) }), rel: "prev", hidden: state.offset === 0 }, "← Previous");
      const next = h("a", { class: "button", href: urlFor({ ...state, offset: state.offset + res.limit }), rel: "next", hidden: !res.has_more }, "Next →");
      pager.replaceChildren(prev, next);
      pager.hidden = !(state.offset > 0 || res.has_more);
    } catch (err) {
      if (mine !== generation) return;
      list.replaceChildren();
      pager.hidden = true;
      summary.textContent = "";
      showError(error, err);
    } finally {
      if (mine === generation) list.setAttribute("aria-busy", "false");
    }
  }

  function go(state) {
    history.pushState(null, "", urlFor(state));
    run();
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    go({ q: input.value.trim(), label: label.value.trim(), offset: 0 });
  });
  pager.addEventListener("click", (event) => {
    const link = event.target.closest("a");
    if (!link) return;
    event.preventDefault();
    history.pushState(null, "", link.getAttribute("href"));
    run();
  });
  window.addEventListener("popstate", run);
  // search.js moves to an image query with pushState (no event): follow its renders.
  new MutationObserver(showMode).observe(results, { childList: true });
  run();
})();
