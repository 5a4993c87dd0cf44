"""ecwid-connect: checks that a migration service can read an Ecwid store, and says why not."""
