"""The cxgate console: a web page for operators and developers, served at `/console/`.

The page itself is built from `console/` at the top of the checkout (`make install` runs Vite)
into `static/` here; this package serves those files and the one endpoint only the page needs,
`GET /console/api/config`: the configuration, read-only and without secrets, with its problems.
"""
