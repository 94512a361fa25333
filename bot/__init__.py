"""The SEN Support Assistant's runtime package, one folder per concern (docs/architecture.md).

Layers, each importing only those below it (``make lint`` checks with import-linter):
ops > adviser | channels | production | plugins > cases > assistant > contract, settings,
opening_hours.
"""
