"""The market's importer of supplier catalogues.

``fetch`` (polite, bounded, address-guarded GETs), ``robots`` (robots.txt), ``sitemap``,
``extract`` (schema.org Product/Offer from JSON-LD, microdata and RDFa, OpenGraph as a
fallback, via extruct), ``crawler`` (one source's pages, nothing written) and ``runner`` (one
run at a time per source: start, crawl, store in one transaction, or fail cleanly), plus
``schedule`` (the worker's stage) and ``demo_site`` (the demo supplier `rose-ash up --demo`
serves). Products are stored through ``services().catalog_import``.
"""
