/* One collection: title and Markdown notes (with a sanitized preview), archive, delete,
 * items with remove, and the export download (a plain link to the API's ZIP). */
(function () {
  "use strict";
  const { api, post, h, $, showError, flash, confirmButton, current } = window.VF;
  const page = $("#collection-page");
  const id = Number(page.dataset.collectionId);
  // Its creator and staff change it; everyone else reads it (the API says the same).
  const canEdit = page.dataset.canEdit === "true";
  const errorNode = $("#collection-error");
  const itemsNode = $("#items");
  const PAGE = 60;
  let collection = null;
  let offset = 0;

  function renderHeader() {
    $("#collection-title").textContent = collection.title;
    $("#collection-count").textContent = String(collection.item_count);
    $("#archived-badge").hidden = !collection.archived;
    if (canEdit) $("#archive-button").textContent = collection.archived ? "Unarchive" : "Archive";
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
    const remove = h("button", { type: "button", class: "small", "aria-label": "Remove " + label + " " + item.media_id + " from the collection" }, "Remove");
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
      h("div", { class: "card-actions" }, h("span", { class: "muted small" }, "by " + (item.added_by || "—")), h("a", { href: "/?media=" + item.media_id }, "Search"), canEdit ? remove : null)
    );
    return card;
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

  $("#notes-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!canEdit) return;
    const status = $("#save-status");
    status.textContent = "Saving…";
    const res = await patch({ title: $("#title-input").value, notes: notesInput.value });
    status.textContent = res ? "Saved." : "";
    if (res) {
      const chosen = current.get();
      if (chosen && chosen.id === id) current.set(res);
    }
  });

  if (canEdit) {
    $("#archive-button").addEventListener("click", () =>
      patch({ archived: !collection.archived }, (res) => {
        flash(res.archived ? "Archived: it no longer shows among the collections to add to." : "Unarchived.");
        const chosen = current.get();
        if (res.archived && chosen && chosen.id === id) current.set(null);
        renderHeader();
      })
    );
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
