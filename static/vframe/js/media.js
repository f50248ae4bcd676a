/* Media page: add or remove this media in the current collection (the rest is server-rendered). */
(function () {
  "use strict";
  const { api, h, $, showError, flash, current } = window.VF;
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

  // --- Video: start at #t=seconds (a frame's "Open the video" link), say when it cannot play --
  const video = $("#media-video");
  if (video) {
    const wanted = () => {
      const match = /(?:^#|&)t=(\d+(?:\.\d+)?)/.exec(location.hash);
      return match ? Number(match[1]) : null;
    };
    const seek = () => {
      const t = wanted();
      if (t === null) return;
      const go = () => {
        video.currentTime = Math.min(t, video.duration || t);
      };
      if (video.readyState >= 1) go();
      else video.addEventListener("loadedmetadata", go, { once: true });
    };
    seek();
    window.addEventListener("hashchange", seek);
    const cannotPlay = () => {
      const code = video.error ? video.error.code : 0;
      const why = code === 4 ? "its format or codec is not one this browser plays" : code === 2 ? "the network failed while loading it" : "it could not be decoded";
      showError(errorNode, "This video does not play here: " + why + ". “Download original” gives the file (" + (video.dataset.format || "video") + ") for a desktop player.");
    };
    video.addEventListener("error", cannotPlay);
    if (video.error) cannotPlay(); // it failed before this script ran
  }

  // --- Near-duplicates: this media's group in the default feature's latest run ----------------
  const dupList = $("#media-duplicates");
  const dupNote = $("#media-duplicates-note");
  async function loadDuplicates() {
    try {
      const res = await api("media/id/" + mediaId + "/duplicates/");
      const link = h("a", { href: "/duplicates/?feature=" + res.feature_id }, "near-duplicate groups");
      $("#media-duplicates-run").textContent = res.run ? "(feature " + res.feature_id + ", similarity ≥ " + res.threshold + ")" : "";
      if (!res.run) {
        dupNote.replaceChildren("No near-duplicate run for feature " + res.feature_id + " yet: start one on the ", link, " page.");
      } else if (!res.results.length) {
        dupNote.replaceChildren("None: this media is in no group of the latest run. All groups: ", link, ".");
      } else {
        dupNote.replaceChildren(res.results.length + " in the same group. All groups: ", link, ".");
      }
      dupList.replaceChildren(
        ...res.results.map((r) =>
          h(
            "li",
            null,
            h(
              "a",
              { href: "/media/" + r.media.id + "/" },
              r.media.thumbnail_url ? h("img", { src: r.media.thumbnail_url, alt: "Media " + r.media.id, loading: "lazy", decoding: "async" }) : null,
              h("span", null, "#" + r.media.id + (r.score === null ? "" : " · " + r.score.toFixed(3)))
            )
          )
        )
      );
    } catch (err) {
      // 409: no feature is ready to search yet, so there cannot be a run either.
      dupNote.textContent = err.status === 409 ? "No feature is ready yet." : "Could not load near-duplicates: " + err.message;
    }
  }
  loadDuplicates();
})();
