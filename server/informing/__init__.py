"""Informing citizens (issue 18): a web page per service and per life situation, and search.

* :mod:`.search` — the pure, typo-tolerant search index built from the site config;
* :mod:`.routes` — the pages (``/office/{office}/services``, ``.../services/{id}``,
  ``.../situations/{id}``) and the JSON search (``/office/{office}/services.json?q=``);
* ``templates/`` and ``locales/`` — the pages and their words in uk/ru/ky/kk/en.

The content itself (what to bring, fees, where to go) is the office's: ``services[].info`` and
``bundles[]`` in the site config (:class:`cherga.server.siteconfig.ServiceDetails`).
"""

from cherga.server.informing.routes import router

__all__ = ["router"]
