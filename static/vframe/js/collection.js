/* One collection: title and Markdown notes (with a sanitized preview), archive, delete,
 * items with remove, and the export download (a plain link to the API's ZIP). */
(function () {
  "use strict";
  const { api, post, h, $, showError, flash, confirmButton, current, formatSeconds } = window.VF;
  const page = $("#collection-page");
  const id = Number(page.dataset.collectionId);
  // Its creator and staff change it; everyone else reads it (the API says the same).
  const canEdit = page.dataset.canEdit === "true";
  const errorNode = $("#collection-error");
  const itemsNode = $("#items");
  const PAGE = 60;
  let collection = null;
  let offset = 0;

  // Archived: a closed record. Nothing edits it until it is unarchived (the API answers 409).
  function editable() {
    // Before the collection has loaded, the page as the server rendered it says.
    return canEdit && !(collection ? collection.archived : page.classList.contains("is-archived"));
  }

  function renderHeader() {
    $("#collection-title").textContent = collection.title;
    $("#collection-count").textContent = String(collection.item_count);
    $("#archived-badge").hidden = !collection.archived;
    $("#archived-note").hidden = !collection.archived;
    page.classList.toggle("is-archived", collection.archived);
    $("#title-input").readOnly = !editable();
    $("#notes-input").readOnly = !editable();
    if (canEdit) {
      $("#archive-button").textContent = collection.archived ? "Unarchive" : "Archive";
      $("#save-button").disabled = !editable();
      $("#delete-button").disabled = collection.archived;
      $("#delete-button").title = collection.archived ? "Unarchive it first" : "";
    }
    for (const button of itemsNode.querySelectorAll("button.remove")) button.hidden = !editable();
    const chosen = current.get();
    const isCurrent = chosen && chosen.id === id;
    const makeCurrent = $("#make-current");
    if (makeCurrent) {
      makeCurrent.disabled = collection.archived || isCurrent;
      makeCurrent.textContent = isCurrent ? "Current collection for search" : "Use for search";
    }
    document.title = collection.title + " · VFRAME Search";
  }

  function itemCard(item) {
    const label = item.media_type === "video_frame" ? "Frame" : item.media_type === "video" ? "Video" : "Image";
    const remove = h("button", { type: "button", class: "small remove", hidden: !editable(), "aria-label": "Remove " + label + " " + item.media_id + " from the collection" }, "Remove");
    confirmButton(remove, "Really remove?", async () => {
      showError(errorNode, null);
      try {
        await api("collection/" + id + "/media/" + item.media_id + "/", { method: "DELETE" });
        card.remove();
        collection.item_count -= 1;
        offset -= 1;
        renderHeader();
        $("#items-empty").hidden = collection.item_count > 0;
        flash("Removed " + label.toLowerCase() + " " + item.media_id + ".");
      } catch (err) {
        showError(errorNode, "Could not remove: " + err.message);
      }
    });
    const card = h(
      "li",
      { class: "card", dataset: { mediaId: item.media_id } },
      h("a", { class: "thumb", href: "/media/" + item.media_id + "/" }, h("img", { src: item.thumbnail_url || "", alt: label + " " + item.media_id, loading: "lazy", decoding: "async" })),
      h("div", { class: "facts" }, h("span", { class: "name", title: item.original_name || item.sha256 }, item.original_name || item.sha256.slice(0, 12))),
      item.media_type === "video_frame" && item.timestamp !== null ? h("div", { class: "card-name muted" }, "at " + formatSeconds(item.timestamp) + " of video " + item.parent) : null,
      foundBy(item),
      h("div", { class: "card-actions" }, h("span", { class: "muted small" }, "by " + (item.added_by || "—")), h("a", { href: "/?media=" + item.media_id }, "Search"), canEdit ? remove : null)
    );
    return card;
  }

  /** How the item was found: its rank, score and label in the search that showed it, and that search. */
  function foundBy(item) {
    const f = item.found_by;
    if (!f) return h("div", { class: "found-by muted" }, "Added by hand (not from a search).");
    const facts = [];
    if (f.rank !== null) facts.push("#" + f.rank);
    if (f.score !== null) facts.push(f.score.toFixed(3));
    const params = new URLSearchParams();
    if (f.query_type === "upload") params.set("upload", f.query_upload_id);
    else params.set("media", f.query_media_id);
    if (f.box) params.set("box", f.box.join(","));
    if (f.feature_id) params.set("feature", f.feature_id);
    const what = f.query_type === "upload" ? "upload " + f.query_upload_id : "media " + f.query_media_id;
    return h(
      "div",
      { class: "found-by", title: "Search record " + f.search_record + " by " + (f.searched_by || "—") + ": " + f.query + " · " + f.modelzoo_name },
      f.match ? h("span", { class: "match match-" + f.match }, f.match) : null,
      f.match ? " " : null,
      "Found " + facts.join(" · ") + " searching ",
      h("a", { href: "/?" + params.toString(), class: "found-query" }, what),
      h("span", { class: "muted" }, " (record " + f.search_record + ")")
    );
  }

  async function loadItems(append) {
    try {
      const res = await api("collection/" + id + "/", { query: { offset, limit: PAGE } });
      collection = res;
      renderHeader();
      const cards = res.items.results.map(itemCard);
      if (append) itemsNode.append(...cards);
      else itemsNode.replaceChildren(...cards);
      offset += res.items.results.length;
      $("#items-more").hidden = offset >= res.items.count;
      $("#items-empty").hidden = res.items.count > 0;
    } catch (err) {
      showError(errorNode, err);
    }
  }

  async function patch(fields, done) {
    showError(errorNode, null);
    try {
      const res = await api("collection/" + id + "/", { method: "PATCH", json: fields });
      collection = { ...collection, ...res };
      renderHeader();
      if (done) done(res);
      return res;
    } catch (err) {
      showError(errorNode, err);
      return null;
    }
  }

  // Notes: Write / Preview tabs, the preview rendered by the server exactly as the export will.
  const tabWrite = $("#tab-write");
  const tabPreview = $("#tab-preview");
  const write = $("#notes-write");
  const preview = $("#notes-preview");
  const notesInput = $("#notes-input");

  function selectTab(which) {
    const showPreview = which === "preview";
    tabWrite.setAttribute("aria-selected", String(!showPreview));
    tabPreview.setAttribute("aria-selected", String(showPreview));
    tabWrite.tabIndex = showPreview ? -1 : 0;
    tabPreview.tabIndex = showPreview ? 0 : -1;
    write.hidden = showPreview;
    preview.hidden = !showPreview;
    if (showPreview) renderPreview();
  }

  async function renderPreview() {
    preview.replaceChildren(h("p", { class: "muted" }, "Rendering…"));
    try {
      const res = await post("/collections/notes-preview/", new URLSearchParams({ notes: notesInput.value }));
      // Sanitized on the server by the same function the API and the export use.
      preview.innerHTML = res.html || "<p class=\"muted\">Nothing to preview.</p>";
    } catch (err) {
      preview.replaceChildren();
      showError(errorNode, "Preview failed: " + err.message);
    }
  }

  tabWrite.addEventListener("click", () => selectTab("write"));
  tabPreview.addEventListener("click", () => selectTab("preview"));
  for (const tab of [tabWrite, tabPreview]) {
    tab.addEventListener("keydown", (event) => {
      if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
        const other = tab === tabWrite ? tabPreview : tabWrite;
        selectTab(other === tabPreview ? "preview" : "write");
        other.focus();
      }
    });
  }

  // Unsaved changes of the title or notes: said next to Save, and asked about before leaving.
  const titleInput = $("#title-input");
  let saved = { title: titleInput.value, notes: notesInput.value };
  function dirty() {
    return editable() && (titleInput.value !== saved.title || notesInput.value !== saved.notes);
  }
  function showDirty() {
    const status = $("#save-status");
    if (status && dirty()) status.textContent = "Unsaved changes.";
    else if (status && status.textContent === "Unsaved changes.") status.textContent = "";
  }
  titleInput.addEventListener("input", showDirty);
  notesInput.addEventListener("input", showDirty);
  window.addEventListener("beforeunload", (event) => {
    if (!dirty()) return;
    event.preventDefault();
    event.returnValue = ""; // browsers show their own "leave page?" question
  });

  $("#notes-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!editable()) return;
    const status = $("#save-status");
    status.textContent = "Saving…";
    const res = await patch({ title: titleInput.value, notes: notesInput.value });
    status.textContent = res ? "Saved." : "Not saved.";
    if (res) {
      saved = { title: res.title, notes: res.notes };
      const chosen = current.get();
      if (chosen && chosen.id === id) current.set(res);
    }
  });

  if (canEdit) {
    $("#archive-button").addEventListener("click", () => {
      if (!collection.archived && dirty()) {
        showError(errorNode, "Save or undo your changes to the title and notes before archiving.");
        return;
      }
      patch({ archived: !collection.archived }, (res) => {
        flash(res.archived ? "Archived: it no longer shows among the collections to add to." : "Unarchived.");
        const chosen = current.get();
        if (res.archived && chosen && chosen.id === id) current.set(null);
        renderHeader();
      });
    });
  }

  if (canEdit) $("#make-current").addEventListener("click", () => {
    current.set(collection);
    renderHeader();
    flash("Search results you add now go to “" + collection.title + "”.");
  });

  if (canEdit) confirmButton($("#delete-button"), "Really delete? (media stay)", async () => {
    showError(errorNode, null);
    try {
      await api("collection/" + id + "/", { method: "DELETE" });
      const chosen = current.get();
      if (chosen && chosen.id === id) current.set(null);
      location.href = "/collections/";
    } catch (err) {
      showError(errorNode, err);
    }
  });

  $("#items-more").addEventListener("click", () => loadItems(true));
  loadItems(false);
})();
