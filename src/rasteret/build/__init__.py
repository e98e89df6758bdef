"""The build stage: search, band mapping, header fetching and index writing, orchestrated."""
