// SQLite's full-text search (FTS3/4/5) and R-tree modules, left out of kairos.
//
// Debian's libsqlite3.a is built with these extensions, and sqlite3_open_v2 registers them
// on every connection through three entry points that its main.o calls. Those calls are
// the only references into fts3*.o, fts5.o and rtree.o, so when kairos defines the entry
// points itself the linker never takes those objects from the archive: less text, which the
// kernel would keep resident in every kairosd (docs/PERFORMANCE.md, "RSS at rest"), and no full-text query parser in a root daemon whose SQL is fixed. A SQLite
// built with SQLITE_OMIT_* would do the same, but that needs SQLite's sources. The history
// database stays an ordinary SQLite file: any sqlite3 shell can add FTS tables of its own.
//
// Only with KAIROS_STATIC_DEPS (CMakeLists.txt links this object ahead of libsqlite3.a);
// a shared libsqlite3.so keeps its modules. Should a later SQLite need one of these
// objects for another reason, the link fails with a duplicate definition rather than
// silently; should it rename an entry point, the module comes back and only the memory
// figure notices. StoreTest.SqliteCarriesNoFullTextOrRtreeModules checks they are gone.
#include <sqlite3.h>

extern "C" {
int sqlite3Fts3Init(sqlite3*) {
  return SQLITE_OK;
}
int sqlite3Fts5Init(sqlite3*) {
  return SQLITE_OK;
}
int sqlite3RtreeInit(sqlite3*) {
  return SQLITE_OK;
}
}
