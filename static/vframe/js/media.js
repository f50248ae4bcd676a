/* Media page: add or remove this media in the current collection (the rest is server-rendered). */
(function () {
  "use strict";
  const { api, $, showError, flash, current } = window.VF;
  const button = $("#media-collection-toggle");
  const errorNode = $("#media-error");
  const mediaId = Number(button.dataset.mediaId);
  let inCollection = false;

  function render() {
    const chosen = current.get();
    if (!chosen) {
      button.textContent = "Add to current collection";
      button.setAttribute("aria-pressed", "false");
      return;
    }
    button.textContent = inCollection ? "✓ In “" + chosen.title + "” (remove)" : "Add to “" + chosen.title + "”";
    button.setAttribute("aria-pressed", inCollection ? "true" : "false");
    button.classList.toggle("on", inCollection);
  }

  async function load() {
    const chosen = current.get();
    if (chosen) {
      try {
        inCollection = (await current.memberIds(chosen.id)).ids.has(mediaId);
      } catch (err) {
        if (err.status === 404) current.set(null);
        else showError(errorNode, err);
      }
    }
    render();
  }

  button.addEventListener("click", async () => {
    showError(errorNode, null);
    const chosen = current.get();
    if (!chosen) {
      showError(errorNode, "No current collection: pick or create one on the Search or Collections page (“Use for search”).");
      return;
    }
    button.disabled = true;
    try {
      if (inCollection) {
        await api("collection/" + chosen.id + "/media/" + mediaId + "/", { method: "DELETE" });
        inCollection = false;
        flash("Removed from “" + chosen.title + "”.");
      } else {
        await api("collection/" + chosen.id + "/media/", { method: "POST", json: { media_id: mediaId } });
        inCollection = true;
        flash("Added to “" + chosen.title + "”.");
      }
    } catch (err) {
      showError(errorNode, err);
    } finally {
      button.disabled = false;
      render();
    }
  });

  load();
})();
