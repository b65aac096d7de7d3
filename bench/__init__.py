"""`python -m bench`: load cxgate with wrk, next to a bare ASGI app on the same uvicorn settings.

See bench/README.md for what is measured and how to read the results.
"""
