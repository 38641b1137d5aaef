"""The `m365sync` command line: it imports the other packages; none imports it."""
