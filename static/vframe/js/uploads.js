/* Uploads page: past query images, newest first; search again, delete (uploader or staff). */
(function () {
  "use strict";
  const { api, h, $, showError, flash, confirmButton, formatBytes, formatDate, config } = window.VF;
  const list = $("#uploads");
  const errorNode = $("#uploads-error");
  const more = $("#uploads-more");
  const PAGE = 60;
  let offset = 0;
  let count = 0;

  function card(u) {
    const name = u.original_name || "upload " + u.id;
    const mayDelete = config.staff || u.username === config.user;
    const remove = mayDelete ? h("button", { type: "button", class: "small", "aria-label": "Delete upload " + name }, "Delete") : null;
    const node = h(
      "li",
      { class: "card", dataset: { uploadId: u.id } },
      h("a", { class: "thumb", href: "/?upload=" + u.id, title: "Search again with " + name }, h("img", { src: u.thumbnail_url || "", alt: name, loading: "lazy", decoding: "async" })),
      h(
        "div",
        { class: "facts" },
        h("span", { class: "name", title: name }, name),
        h("span", { class: "muted small" }, u.width + "×" + u.height + " · " + formatBytes(u.byte_size))
      ),
      h("div", { class: "facts muted small" }, h("span", null, u.username || "—"), h("time", { datetime: u.created_at }, formatDate(u.created_at))),
      h("div", { class: "card-actions" }, h("a", { href: "/?upload=" + u.id }, "Search again"), remove)
    );
    if (remove) {
      confirmButton(remove, "Really delete?", async () => {
        showError(errorNode, null);
        try {
          await api("upload/" + u.id + "/", { method: "DELETE" });
          node.remove();
          count -= 1;
          offset -= 1;
          $("#uploads-empty").hidden = count > 0;
          flash("Deleted " + name + ".");
        } catch (err) {
          showError(errorNode, "Could not delete " + name + ": " + err.message);
        }
      });
    }
    return node;
  }

  async function load(append) {
    showError(errorNode, null);
    try {
      const res = await api("upload/", { query: { offset, limit: PAGE, sort: "date", order: "desc" } });
      const cards = res.results.map(card);
      if (append) list.append(...cards);
      else list.replaceChildren(...cards);
      count = res.count;
      offset += res.results.length;
      more.hidden = offset >= res.count;
      $("#uploads-empty").hidden = res.count > 0;
    } catch (err) {
      showError(errorNode, err);
    }
  }

  more.addEventListener("click", () => load(true));
  load(false);
})();
