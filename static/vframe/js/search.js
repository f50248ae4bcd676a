/* Search page: the URL is the search.
 *
 * ?upload=ID | ?media=ID | ?sha256=HEX | ?random=SEED, plus the search API's own
 * parameters (feature, offset, limit, media_type, collection, min_score, group,
 * include_self, and box=x1,y1,x2,y2 for a region of the query image, set by dragging
 * on it). Every change of query, filter or page is a new URL (history
 * pushState), then one call of the search API renders the query and the results, so a
 * copied link or a reload shows the same search.
 */
(function () {
  "use strict";
  const { api, h, $, showError, flash, formatSeconds, mediaLabel, current, config } = window.VF;

  const QUERY_KEYS = ["upload", "media", "sha256", "random"];
  const MAX_BOXES = 10;
  const FILTER_KEYS = ["feature", "limit", "media_type", "collection", "min_score", "group", "include_self"];

  const els = {
    dropzone: $("#dropzone"),
    uploadInput: $("#upload-input"),
    uploadStatus: $("#upload-status"),
    uploadError: $("#upload-error"),
    startForm: $("#start-form"),
    startKind: $("#start-kind"),
    startValue: $("#start-value"),
    randomButton: $("#random-button"),
    queryPanel: $("#query-panel"),
    queryImage: $("#query-image"),
    queryWrap: $("#query-image-wrap"),
    regionBox: $("#region-box"),
    regionStatus: $("#region-status"),
    regionLabel: $("#region-label"),
    regionClear: $("#region-clear"),
    boxes: $("#detection-boxes"),
    queryCaption: $("#query-caption"),
    detections: $("#detections"),
    queryInfo: $("#query-info"),
    filters: $("#filters-form"),
    filtersBox: $("#filters-box"),
    feature: $("#f-feature"),
    mediaType: $("#f-media-type"),
    collectionFilter: $("#f-collection"),
    minScore: $("#f-min-score"),
    limit: $("#f-limit"),
    group: $("#f-group"),
    includeSelf: $("#f-include-self"),
    currentSelect: $("#current-collection"),
    currentLink: $("#current-collection-link"),
    newButton: $("#new-collection-button"),
    newForm: $("#new-collection-form"),
    newTitle: $("#new-collection-title"),
    newCancel: $("#new-collection-cancel"),
    collectionError: $("#collection-error"),
    summary: $("#results-summary"),
    resultsHeading: $("#results-heading"),
    searchError: $("#search-error"),
    results: $("#results"),
    pager: $("#pager"),
    prev: $("#prev-page"),
    next: $("#next-page"),
    pageLabel: $("#page-label"),
  };

  // --- URL state -------------------------------------------------------------------------------

  function readState() {
    const params = new URLSearchParams(location.search);
    const state = { query: null, offset: Math.max(0, parseInt(params.get("offset") || "0", 10) || 0), filters: {} };
    for (const key of QUERY_KEYS) {
      const value = params.get(key);
      if (value) {
        state.query = { kind: key, value };
        break;
      }
    }
    for (const key of FILTER_KEYS) {
      const value = params.get(key);
      if (value) state.filters[key] = value;
    }
    // The region belongs to this query: a new query starts without one.
    if (state.query && params.get("box")) state.box = params.get("box");
    return state;
  }

  function urlFor(state) {
    const params = new URLSearchParams();
    if (state.query) params.set(state.query.kind, state.query.value);
    if (state.query && state.box) params.set("box", state.box);
    for (const key of FILTER_KEYS) if (state.filters[key]) params.set(key, state.filters[key]);
    if (state.offset) params.set("offset", String(state.offset));
    const qs = params.toString();
    return location.pathname + (qs ? "?" + qs : "");
  }

  function navigate(state, { replace = false } = {}) {
    const url = urlFor(state);
    if (url !== location.pathname + location.search) {
      if (replace) history.replaceState(null, "", url);
      else history.pushState(null, "", url);
    }
    run();
  }

  function filtersFromForm() {
    const filters = {};
    if (els.feature.value) filters.feature = els.feature.value;
    if (els.limit.value && Number(els.limit.value) !== config.searchPageSize) filters.limit = els.limit.value;
    if (els.mediaType.value) filters.media_type = els.mediaType.value;
    if (els.collectionFilter.value) filters.collection = els.collectionFilter.value;
    if (els.minScore.value !== "") filters.min_score = els.minScore.value;
    if (els.group.checked) filters.group = "video";
    if (els.includeSelf.checked) filters.include_self = "1";
    return filters;
  }

  function ensureOption(select, value, label) {
    if (!value || [...select.options].some((o) => o.value === value)) return;
    select.append(h("option", { value }, label || value));
  }

  function syncForm(state) {
    const f = state.filters;
    ensureOption(els.feature, f.feature, "Feature " + f.feature);
    ensureOption(els.collectionFilter, f.collection, "Collection " + f.collection);
    ensureOption(els.limit, f.limit);
    els.feature.value = f.feature || "";
    els.limit.value = f.limit || String(config.searchPageSize);
    els.mediaType.value = f.media_type || "";
    els.collectionFilter.value = f.collection || "";
    els.minScore.value = f.min_score || "";
    els.group.checked = f.group === "video";
    els.includeSelf.checked = Boolean(f.include_self);
    if (state.query && state.query.kind !== "upload") {
      els.startKind.value = state.query.kind;
      els.startValue.value = state.query.value;
    }
  }

  // --- running a search -----------------------------------------------------------------------

  let generation = 0;
  let members = new Set(); // media ids in the current collection
  let lastResponse = null;
  let shownQuery = ""; // the query the query panel shows ("" when hidden)
  let scrollToQuery = false; // a result was followed: bring the new query into view
  let modelLoaded = config.modelLoaded; // false while the server still loads the model (search/info says it too)

  function searchPath(query) {
    const value = encodeURIComponent(query.value.trim());
    return "search/" + query.kind + "/" + value + "/";
  }

  function queryKey(state) {
    return state.query ? state.query.kind + ":" + state.query.value + (state.box ? "@" + state.box : "") : "";
  }

  async function run() {
    const state = readState();
    syncForm(state);
    const mine = ++generation;
    // Every search starts clean: no error, upload message or query of an earlier one.
    showError(els.searchError, null);
    showError(els.uploadError, null);
    const key = queryKey(state);
    if (key !== shownQuery) {
      els.queryPanel.hidden = true;
      shownQuery = "";
    }
    document.body.classList.toggle("has-query", Boolean(state.query));
    if (!state.query) {
      lastResponse = null;
      document.title = "Search · VFRAME Search";
      await browseLibrary(state, mine);
      return;
    }
    els.resultsHeading.textContent = "Results";
    els.results.setAttribute("aria-busy", "true");
    els.summary.textContent = "Searching…";
    // Said only when the server says so: the first search after a restart loads the model.
    const slow = setTimeout(() => {
      if (mine === generation && modelLoaded === false) els.summary.textContent = "Loading the model (the first search after the server started takes a few seconds)…";
    }, 400);
    const query = { offset: state.offset, ...state.filters };
    if (state.box) query.box = state.box;
    try {
      const res = await api(searchPath(state.query), { query });
      if (mine !== generation) return; // a newer search started meanwhile
      lastResponse = res;
      modelLoaded = true;
      renderQuery(res, state);
      shownQuery = key;
      renderResults(res, state);
      if (scrollToQuery) els.queryPanel.scrollIntoView({ block: "start" });
    } catch (err) {
      if (mine !== generation) return;
      lastResponse = null;
      els.queryPanel.hidden = true;
      shownQuery = "";
      els.results.replaceChildren();
      els.pager.hidden = true;
      els.summary.textContent = "No results.";
      showError(els.searchError, err);
    } finally {
      clearTimeout(slow);
      if (mine === generation) {
        els.results.setAttribute("aria-busy", "false");
        scrollToQuery = false;
      }
    }
  }

  // --- the library: what is stored, newest first, when no query is set --------------------------

  async function browseLibrary(state, mine) {
    const f = state.filters;
    const limit = Number(f.limit) || config.searchPageSize;
    els.resultsHeading.textContent = "Library";
    els.results.setAttribute("aria-busy", "true");
    els.summary.textContent = "Loading the library…";
    try {
      const query = { offset: state.offset, limit, sort: "date", order: "desc", media_type: f.media_type };
      let items, count;
      if (f.collection) {
        const res = await api("collection/" + f.collection + "/", { query });
        items = res.items.results.map((i) => ({ id: i.media_id, media_type: i.media_type, original_name: i.original_name, sha256: i.sha256, thumbnail_url: i.thumbnail_url, parent: i.parent, timestamp: i.timestamp }));
        count = res.items.count;
      } else {
        const res = await api("media/", { query });
        items = res.results;
        count = res.count;
      }
      if (mine !== generation) return;
      const list = h("ol", { class: "grid" }, items.map((m) => resultCard({ media: m }, state)));
      els.results.replaceChildren(list);
      const first = state.offset + 1;
      const last = state.offset + items.length;
      const what = f.collection ? "in this collection" : "stored";
      els.summary.textContent = items.length
        ? "Newest first: " + first + "–" + last + " of " + count + " " + what + ". Choose an image, a media id, a sha256 or a random seed to search."
        : count
          ? "No more items."
          : f.collection || f.media_type
            ? "Nothing " + what + " with these filters."
            : "The library is empty: import media with `manage.py ingest`.";
      setPager(state, state.offset, limit, state.offset + items.length < count);
    } catch (err) {
      if (mine !== generation) return;
      els.results.replaceChildren();
      els.pager.hidden = true;
      els.summary.textContent = "Choose an image, a media id, a sha256 or a random seed to start.";
      showError(els.searchError, err);
    } finally {
      if (mine === generation) els.results.setAttribute("aria-busy", "false");
    }
  }

  function renderQuery(res, state) {
    const q = res.query;
    const item = q.upload || q.media;
    els.queryPanel.hidden = false;
    els.queryImage.src = (item && (item.thumbnail_url || item.file_url)) || "";
    els.queryImage.alt = q.upload ? "Uploaded query image " + (q.upload.original_name || q.upload.id) : "Query: " + mediaLabel(q.media);
    const caption = [];
    if (q.upload) {
      caption.push("Upload " + q.upload.id + (q.upload.original_name ? " · " + q.upload.original_name : ""));
    } else if (q.media) {
      if (q.seed) caption.push("Random seed “" + q.seed + "” picked ");
      caption.push(h("a", { href: "/media/" + q.media.id + "/" }, mediaLabel(q.media)));
      if (q.media.original_name) caption.push(" · " + q.media.original_name);
    }
    els.queryCaption.replaceChildren(...caption);
    document.title = (q.upload ? "Upload " + q.upload.id : mediaLabel(q.media)) + " · Search · VFRAME Search";

    // Detections: boxes in normalised coordinates over the query image.
    els.boxes.replaceChildren();
    els.detections.replaceChildren();
    const det = res.detections;
    if (det && det.items) {
      // The strongest few: a wall of low-score boxes would hide the image.
      const shown = det.items.slice().sort((a, b) => b.score - a.score).slice(0, MAX_BOXES);
      for (const d of shown) {
        const [x1, y1, x2, y2] = d.box;
        els.boxes.append(
          h("div", {
            class: "box",
            style: `left:${(x1 * 100).toFixed(2)}%;top:${(y1 * 100).toFixed(2)}%;width:${((x2 - x1) * 100).toFixed(2)}%;height:${((y2 - y1) * 100).toFixed(2)}%`,
            "data-label": d.label + " " + d.score.toFixed(2),
          })
        );
        els.detections.append(h("li", null, d.label + " ", h("span", { class: "muted" }, d.score.toFixed(2))));
      }
      if (det.items.length > shown.length) els.detections.append(h("li", { class: "muted" }, "and " + (det.items.length - shown.length) + " weaker ones"));
      if (!det.items.length) els.detections.append(h("li", { class: "muted" }, "No detections (" + det.model + ")."));
      else els.detections.prepend(h("li", { class: "muted detections-model" }, "Detections by " + det.model + ":"));
    }
    const timing = res.timing_ms && res.timing_ms.total !== undefined ? " · " + Math.round(res.timing_ms.total) + " ms" : "";
    showRegion(q.box);
    els.queryInfo.textContent =
      (q.box ? "Region search · " : "") +
      "Feature " + res.feature.id + " (" + res.feature.modelzoo_name + ", " + res.feature.index_type + ") · " + res.index_count + " items indexed" + timing;
  }

  // The search answer's match label of each hit, strongest first.
  const MATCHES = {
    exact: { title: "Exact matches", help: "the same picture (same pixels or the same file)" },
    copy: { title: "Copies", help: "the same picture edited: re-encoded, resized, cropped, recoloured or with overlays" },
    similar: { title: "Similar", help: "a related picture: the same place, object or scene, not a copy" },
  };
  const MATCH_ORDER = ["exact", "copy", "similar"];

  function resultCard(hit, state) {
    const m = hit.media;
    // From the library, a card starts a search over everything (its filters browse, not search).
    const filters = state.query ? state.filters : state.filters.feature ? { feature: state.filters.feature } : {};
    const searchState = { query: { kind: "media", value: String(m.id) }, offset: 0, filters };
    const label = mediaLabel(m);
    const inCollection = members.has(m.id);
    const facts = [];
    if (hit.rank !== undefined) facts.push(h("span", { class: "rank" }, "#" + hit.rank));
    // The strong labels stand out on the card; "similar" is said by its group's heading.
    if (hit.match && hit.match !== "similar") facts.push(h("span", { class: "match match-" + hit.match, title: (MATCHES[hit.match] || {}).help || hit.match }, hit.match));
    if (hit.score !== undefined) facts.push(h("span", { class: "score", title: "Cosine similarity (1 = same vector)" }, hit.score.toFixed(3)));
    if (m.media_type === "video_frame") facts.push(h("span", { class: "time" }, formatSeconds(m.timestamp)));
    else if (m.media_type === "video") facts.push(h("span", { class: "time" }, "video"));
    // The whole name, wrapped: a variant's suffix is often at its end.
    const name = m.original_name || m.sha256.slice(0, 12);
    const where =
      m.media_type === "video_frame" && m.parent
        ? h("a", { class: "parent", href: "/media/" + m.parent + "/#t=" + Number(m.timestamp || 0).toFixed(3), title: "The video this frame is from, at its time" + (m.original_name ? ": " + m.original_name : "") }, "video " + m.parent)
        : h("span", { class: "name", title: m.original_name ? m.original_name + " · sha256 " + m.sha256 : m.sha256 }, name);
    return h(
      "li",
      { class: "card", dataset: { mediaId: m.id } },
      h(
        "a",
        { class: "thumb", href: urlFor(searchState), title: "Search by " + label, dataset: { search: "1" } },
        h("img", { src: m.thumbnail_url || "", alt: label + " — search by it", loading: "lazy", decoding: "async" }),
        regionBox(hit, m)
      ),
      h("div", { class: "facts" }, facts),
      h("div", { class: "card-name" }, where),
      h(
        "div",
        { class: "card-actions" },
        h("a", { class: "details", href: "/media/" + m.id + "/", "aria-label": "Details of " + label }, "Details"),
        toggleButton(m.id, label, inCollection)
      )
    );
  }

  /** Where the match lies in the hit, over its thumbnail (the box is 4:3, the picture is
   * contained in it), as the answer's region says; nothing without one. */
  function regionBox(hit, m) {
    if (!hit.region || !m.width || !m.height) return null;
    const aspect = m.width / m.height;
    const box = 4 / 3;
    const w = aspect >= box ? 1 : aspect / box;
    const hgt = aspect >= box ? box / aspect : 1;
    const [x1, y1, x2, y2] = hit.region;
    const pct = (v) => (v * 100).toFixed(2) + "%";
    return h("span", {
      class: "match-region",
      title: (hit.verified ? "Matched region (checked by keypoints)" : "Matched region") + " of this picture",
      style: `left:${pct((1 - w) / 2 + x1 * w)};top:${pct((1 - hgt) / 2 + y1 * hgt)};width:${pct((x2 - x1) * w)};height:${pct((y2 - y1) * hgt)}`,
    });
  }

  function toggleButton(mediaId, label, on) {
    const button = h("button", { type: "button", class: "toggle", dataset: { mediaId, label } });
    setToggle(button, on);
    return button;
  }

  function renderResults(res, state) {
    const labelled = res.results.some((hit) => hit.match);
    if (!labelled) {
      els.results.replaceChildren(h("ol", { class: "grid" }, res.results.map((hit) => resultCard(hit, state))));
    } else {
      // Grouped by the answer's match label, exact first; each group keeps the ranking.
      const groups = new Map();
      for (const hit of res.results) {
        const key = MATCHES[hit.match] ? hit.match : "similar";
        if (!groups.has(key)) groups.set(key, []);
        groups.get(key).push(hit);
      }
      const order = [...MATCH_ORDER.filter((k) => groups.has(k)), ...[...groups.keys()].filter((k) => !MATCH_ORDER.includes(k))];
      els.results.replaceChildren(
        ...order.map((key) =>
          h(
            "section",
            { class: "match-group match-group-" + key, dataset: { match: key }, "aria-label": MATCHES[key].title },
            h("h2", { class: "match-heading" }, MATCHES[key].title + " ", h("span", { class: "muted small" }, "(" + groups.get(key).length + ") · " + MATCHES[key].help)),
            h("ol", { class: "grid" }, groups.get(key).map((hit) => resultCard(hit, state)))
          )
        )
      );
    }
    const first = res.offset + 1;
    const last = res.offset + res.results.length;
    els.summary.textContent = res.results.length
      ? "Results " + first + "–" + last + (res.has_more ? "" : " (end)") + " of " + res.index_count + " indexed"
      : res.offset
        ? "No more results."
        : "No results with these filters.";
    setPager(state, res.offset, res.limit, res.has_more);
  }

  function setPager(state, offset, limit, hasMore) {
    els.pager.hidden = !(offset > 0 || hasMore);
    els.prev.hidden = offset === 0;
    els.next.hidden = !hasMore;
    els.prev.href = urlFor({ ...state, offset: Math.max(0, offset - limit) });
    els.next.href = urlFor({ ...state, offset: offset + limit });
    els.pageLabel.textContent = "Page " + (Math.floor(offset / limit) + 1);
  }

  // --- uploads ---------------------------------------------------------------------------------

  async function upload(file) {
    showError(els.uploadError, null);
    if (!file) return;
    if (config.maxUploadBytes && file.size > config.maxUploadBytes) {
      // Said before sending: the server would refuse it anyway, after the whole upload.
      showError(els.uploadError, "“" + file.name + "” is " + VF.formatBytes(file.size) + ", above this server's upload limit of " + VF.formatBytes(config.maxUploadBytes) + ".");
      return;
    }
    els.uploadStatus.textContent = "Uploading " + (file.name || "image") + "…";
    els.dropzone.classList.add("busy");
    const form = new FormData();
    form.append("image", file, file.name || "pasted-image.png");
    try {
      const res = await api("upload/", { method: "POST", form });
      els.uploadStatus.textContent = "";
      navigate({ query: { kind: "upload", value: String(res.id) }, offset: 0, filters: filtersFromForm() });
    } catch (err) {
      els.uploadStatus.textContent = "";
      showError(els.uploadError, "Upload of “" + (file.name || "image") + "” was rejected: " + err.message);
    } finally {
      els.dropzone.classList.remove("busy");
      els.uploadInput.value = "";
    }
  }

  els.uploadInput.addEventListener("change", () => upload(els.uploadInput.files[0]));
  els.dropzone.addEventListener("dragover", (event) => {
    event.preventDefault();
    els.dropzone.classList.add("over");
  });
  els.dropzone.addEventListener("dragleave", () => els.dropzone.classList.remove("over"));
  els.dropzone.addEventListener("drop", (event) => {
    event.preventDefault();
    els.dropzone.classList.remove("over");
    const file = event.dataTransfer && event.dataTransfer.files[0];
    if (file) upload(file);
    else showError(els.uploadError, "Drop an image file (dragging an image from another page gives no file).");
  });
  els.dropzone.addEventListener("click", (event) => {
    if (event.target === els.dropzone || event.target.tagName === "P") els.uploadInput.click();
  });
  els.dropzone.addEventListener("keydown", (event) => {
    if (event.target === els.dropzone && (event.key === "Enter" || event.key === " ")) {
      event.preventDefault();
      els.uploadInput.click();
    }
  });
  document.addEventListener("paste", (event) => {
    const files = event.clipboardData ? [...event.clipboardData.files] : [];
    const image = files.find((f) => f.type.startsWith("image/")) || files[0];
    if (!image) return; // pasting text into a field stays a text paste
    event.preventDefault();
    upload(image);
  });

  // --- other starts, filters, paging ------------------------------------------------------------

  els.startForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = els.startValue.value.trim();
    if (!value) {
      showError(els.searchError, "Enter a media id, a sha256 or a seed first.");
      els.startValue.focus();
      return;
    }
    navigate({ query: { kind: els.startKind.value, value }, offset: 0, filters: filtersFromForm() });
  });
  els.startKind.addEventListener("change", () => {
    els.startValue.placeholder = { media: "e.g. 12", sha256: "64 hex characters", random: "any word" }[els.startKind.value];
  });
  els.randomButton.addEventListener("click", () => {
    const seed = Math.random().toString(36).slice(2, 8);
    navigate({ query: { kind: "random", value: seed }, offset: 0, filters: filtersFromForm() });
  });

  function applyFilters(event) {
    if (event) event.preventDefault();
    const state = readState();
    navigate({ query: state.query, box: state.box, offset: 0, filters: filtersFromForm() });
  }

  // --- region search: drag a rectangle on the query image ------------------------------------

  const MIN_REGION = 0.02; // the API refuses narrower or lower regions
  let drag = null;

  function placeRegion(box) {
    const [x1, y1, x2, y2] = box;
    els.regionBox.style.cssText = `left:${(x1 * 100).toFixed(2)}%;top:${(y1 * 100).toFixed(2)}%;width:${((x2 - x1) * 100).toFixed(2)}%;height:${((y2 - y1) * 100).toFixed(2)}%`;
    els.regionBox.hidden = false;
  }

  function showRegion(box) {
    if (box) placeRegion(box);
    else els.regionBox.hidden = true;
    els.regionStatus.hidden = !box;
    els.regionLabel.textContent = box ? "Searching the region " + box.map((v) => v.toFixed(2)).join(", ") + " of the image." : "";
  }

  function pointIn(event) {
    const rect = els.queryImage.getBoundingClientRect();
    const clamp = (v) => Math.min(1, Math.max(0, v));
    return [clamp((event.clientX - rect.left) / rect.width), clamp((event.clientY - rect.top) / rect.height)];
  }

  function boxOf(a, b) {
    return [Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.max(a[0], b[0]), Math.max(a[1], b[1])];
  }

  els.queryWrap.addEventListener("pointerdown", (event) => {
    if (event.button !== 0 || !els.queryImage.src) return;
    event.preventDefault();
    drag = { start: pointIn(event) };
    els.queryWrap.setPointerCapture(event.pointerId);
  });
  els.queryWrap.addEventListener("pointermove", (event) => {
    if (drag) placeRegion(boxOf(drag.start, pointIn(event)));
  });
  els.queryWrap.addEventListener("pointerup", (event) => {
    if (!drag) return;
    const box = boxOf(drag.start, pointIn(event));
    drag = null;
    const state = readState();
    if (box[2] - box[0] < MIN_REGION || box[3] - box[1] < MIN_REGION) {
      showRegion(state.box ? state.box.split(",").map(Number) : null); // a click, not a drag
      return;
    }
    navigate({ query: state.query, box: box.map((v) => v.toFixed(4)).join(","), offset: 0, filters: filtersFromForm() });
  });
  els.queryWrap.addEventListener("pointercancel", () => {
    drag = null;
  });
  els.regionClear.addEventListener("click", () => {
    const state = readState();
    navigate({ query: state.query, offset: 0, filters: filtersFromForm() });
  });
  els.filters.addEventListener("submit", applyFilters);
  for (const input of [els.feature, els.mediaType, els.collectionFilter, els.limit, els.group, els.includeSelf]) input.addEventListener("change", () => applyFilters());

  // In-page links (result thumbnails, pager) become new searches without a reload;
  // a modified click (new tab) stays a normal link.
  document.addEventListener("click", (event) => {
    const link = event.target.closest("a");
    if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    if (!(link.dataset.search || link === els.prev || link === els.next)) return;
    event.preventDefault();
    history.pushState(null, "", link.getAttribute("href"));
    // A followed result is the new query: show it, not the old results (phones above all).
    scrollToQuery = Boolean(link.dataset.search);
    run();
    if (link === els.prev || link === els.next) els.results.scrollIntoView({ block: "start" });
  });
  window.addEventListener("popstate", run);

  // --- the current collection ------------------------------------------------------------------

  async function loadCollections() {
    try {
      const res = await api("collection/", { query: { limit: config.maxPageSize, sort: "date", order: "desc" } });
      const active = res.results.filter((c) => !c.archived);
      els.currentSelect.replaceChildren(h("option", { value: "" }, "None"), ...active.map((c) => h("option", { value: c.id }, c.title + " (" + c.item_count + ")")));
      const filterValue = els.collectionFilter.value;
      els.collectionFilter.replaceChildren(h("option", { value: "" }, "Any"), ...res.results.map((c) => h("option", { value: c.id }, c.title)));
      ensureOption(els.collectionFilter, filterValue, "Collection " + filterValue);
      els.collectionFilter.value = filterValue;
      const chosen = current.get();
      if (chosen && active.some((c) => c.id === chosen.id)) {
        els.currentSelect.value = String(chosen.id);
      } else if (chosen) {
        current.set(null); // deleted or archived since
      }
      await loadMembers();
    } catch (err) {
      showError(els.collectionError, err);
    }
  }

  async function loadMembers() {
    const chosen = current.get();
    els.currentLink.hidden = !chosen;
    if (chosen) els.currentLink.href = "/collections/" + chosen.id + "/";
    members = new Set();
    if (chosen) {
      try {
        members = (await current.memberIds(chosen.id)).ids;
      } catch (err) {
        showError(els.collectionError, err);
      }
    }
    refreshToggles();
  }

  function refreshToggles() {
    for (const button of els.results.querySelectorAll("button.toggle")) {
      const on = members.has(Number(button.dataset.mediaId));
      setToggle(button, on);
    }
  }

  function setToggle(button, on) {
    button.classList.toggle("on", on);
    button.setAttribute("aria-pressed", on ? "true" : "false");
    // The visible word plus what and where, for screen readers; pressed = in the collection.
    button.replaceChildren(on ? "✓ Added" : "+ Add", h("span", { class: "visually-hidden" }, " " + button.dataset.label + " to the current collection"));
    button.title = on ? "In the current collection: click to remove" : "Add to the current collection";
  }

  function updateCountOption(delta) {
    const option = els.currentSelect.selectedOptions[0];
    if (!option || !option.value) return;
    option.textContent = option.textContent.replace(/\((\d+)\)$/, (_, n) => "(" + (Number(n) + delta) + ")");
  }

  els.results.addEventListener("click", async (event) => {
    const button = event.target.closest("button.toggle");
    if (!button) return;
    showError(els.collectionError, null);
    const chosen = current.get();
    if (!chosen) {
      showError(els.collectionError, "Choose a current collection first, or create one with “New collection…”.");
      els.currentSelect.focus();
      return;
    }
    const mediaId = Number(button.dataset.mediaId);
    const adding = !members.has(mediaId);
    button.disabled = true;
    try {
      if (adding) {
        // Cite the search that showed this hit, so the export can say how it was found.
        const body = { media_id: mediaId };
        if (lastResponse && lastResponse.record_id && lastResponse.results.some((r) => r.media.id === mediaId)) body.search_record = lastResponse.record_id;
        await api("collection/" + chosen.id + "/media/", { method: "POST", json: body });
        members.add(mediaId);
        updateCountOption(1);
        flash("Added to “" + chosen.title + "”.");
      } else {
        await api("collection/" + chosen.id + "/media/" + mediaId + "/", { method: "DELETE" });
        members.delete(mediaId);
        updateCountOption(-1);
        flash("Removed from “" + chosen.title + "”.");
      }
      setToggle(button, members.has(mediaId));
    } catch (err) {
      showError(els.collectionError, (adding ? "Could not add: " : "Could not remove: ") + err.message);
    } finally {
      button.disabled = false;
      button.focus();
    }
  });

  els.currentSelect.addEventListener("change", () => {
    const option = els.currentSelect.selectedOptions[0];
    current.set(option && option.value ? { id: Number(option.value), title: option.textContent.replace(/ \(\d+\)$/, "") } : null);
    showError(els.collectionError, null);
    loadMembers();
  });

  els.newButton.addEventListener("click", () => {
    els.newForm.hidden = false;
    els.newButton.hidden = true;
    els.newTitle.focus();
  });
  els.newCancel.addEventListener("click", () => {
    els.newForm.hidden = true;
    els.newButton.hidden = false;
    els.newButton.focus();
  });
  els.newForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(els.collectionError, null);
    try {
      const created = await api("collection/", { method: "POST", json: { title: els.newTitle.value } });
      current.set(created);
      els.newTitle.value = "";
      els.newForm.hidden = true;
      els.newButton.hidden = false;
      flash("Created “" + created.title + "”; results you add go there.");
      await loadCollections();
      els.currentSelect.focus();
    } catch (err) {
      showError(els.collectionError, "Could not create the collection: " + err.message);
    }
  });

  // --- features --------------------------------------------------------------------------------

  async function loadFeatures() {
    try {
      const [features, info] = await Promise.all([api("feature/", { query: { limit: config.maxPageSize } }), api("search/info/")]);
      const chosen = els.feature.value;
      const def = info.default_feature;
      if (info.model && info.model.loaded !== undefined && modelLoaded !== true) modelLoaded = info.model.loaded;
      const defaultLabel = def ? "Default (feature " + def.id + ")" : "Default";
      els.feature.replaceChildren(
        h("option", { value: "" }, defaultLabel),
        ...features.results.map((f) =>
          h("option", { value: f.id, disabled: !f.has_index }, "Feature " + f.id + " · " + f.modelzoo_name + " · " + f.index_type + (f.status === "ready" ? "" : " (" + f.status + ")"))
        )
      );
      ensureOption(els.feature, chosen, "Feature " + chosen);
      els.feature.value = chosen;
    } catch (err) {
      showError(els.searchError, err);
    }
  }

  // Phones: the filters fold away so the results come first.
  if (window.matchMedia("(max-width: 760px)").matches) els.filtersBox.open = false;
  // Paste is a keyboard gesture: the hint says the key this computer uses, and a touch
  // phone, which has none, does not show it.
  if (/Mac|iPhone|iPad/.test(navigator.platform || "")) $("#paste-key").textContent = "⌘V";
  if (window.matchMedia("(pointer: coarse)").matches || (navigator.maxTouchPoints > 0 && window.matchMedia("(max-width: 760px)").matches)) {
    document.documentElement.classList.add("touch");
  }

  run();
  loadFeatures();
  loadCollections();
})();
