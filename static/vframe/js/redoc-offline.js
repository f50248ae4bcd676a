/* Loaded before ReDoc's bundle on the API reference (/api/v1/redoc/). ReDoc's side menu
 * shows its maker's logo from cdn.redoc.ly: the docs load nothing from another site, so
 * they work offline and no third party learns who reads them. An image of another
 * origin is never given its source (the Content-Security-Policy would refuse it anyway;
 * this keeps the browser from even trying). */
(function () {
  "use strict";

  function foreign(value) {
    const text = String(value);
    if (/^(data|blob):/i.test(text)) return false;
    try {
      return new URL(text, location.href).origin !== location.origin;
    } catch (err) {
      return false;
    }
  }

  const setAttribute = Element.prototype.setAttribute;
  Element.prototype.setAttribute = function (name, value) {
    if (this instanceof HTMLImageElement && /^src(set)?$/i.test(name) && foreign(value)) return;
    return setAttribute.call(this, name, value);
  };
  const src = Object.getOwnPropertyDescriptor(HTMLImageElement.prototype, "src");
  Object.defineProperty(HTMLImageElement.prototype, "src", {
    ...src,
    set(value) {
      if (!foreign(value)) src.set.call(this, value);
    },
  });
})();
