//! SQLite's own page cache, without a scan of it at every commit.
//!
//! When a B-tree split leaves its new pages out of order, SQLite swaps their numbers through a
//! temporary one, the page at the 1 GiB mark (`balance_nonroot`). The default cache keeps the
//! highest number it ever held, and every commit drops the pages above the database's size:
//! while the file is under 1 GiB that number is above it, so the cache scans its whole hash
//! table (16,000 pages at the writer's 64 MiB) to drop nothing. At 100,000 workflows, whose
//! random index inserts split pages all the time, that scan was a fifth of the writer's time.
//!
//! This wraps the default cache and keeps the highest number a page may hold, leaving out a
//! number a page held only in passing: a truncation with no page at or above its limit is
//! skipped. Everything else goes to the default cache unchanged.

use rusqlite::ffi;
use std::os::raw::{c_int, c_uint};
use std::ptr::null_mut;
use std::sync::OnceLock;

/// The default cache's methods, as SQLite gave them.
struct DefaultMethods(ffi::sqlite3_pcache_methods2);

// SAFETY: function pointers and an argument SQLite hands to every thread alike.
unsafe impl Send for DefaultMethods {}
unsafe impl Sync for DefaultMethods {}

static DEFAULT: OnceLock<DefaultMethods> = OnceLock::new();
static INSTALLED: OnceLock<bool> = OnceLock::new();

/// Puts the wrapper in place; true if it is (now or already). It must come before SQLite
/// initializes, that is before the process's first connection: if another one came first,
/// SQLite keeps its default cache and nothing else changes.
pub fn install() -> bool {
    *INSTALLED.get_or_init(|| {
        // SAFETY: all zeros is a valid value of this struct: null pointers and `None`s.
        let mut default: ffi::sqlite3_pcache_methods2 = unsafe { std::mem::zeroed() };
        // SAFETY: GETPCACHE2 writes the current methods into the struct it is given, and
        // fails (changing nothing) once SQLite is initialized.
        let rc = unsafe {
            ffi::sqlite3_config(
                ffi::SQLITE_CONFIG_GETPCACHE2,
                &mut default as *mut ffi::sqlite3_pcache_methods2,
            )
        };
        if rc != ffi::SQLITE_OK || DEFAULT.set(DefaultMethods(default)).is_err() {
            return false;
        }
        let wrapper = ffi::sqlite3_pcache_methods2 {
            iVersion: default.iVersion,
            pArg: default.pArg,
            xInit: default.xInit,
            xShutdown: default.xShutdown,
            xCreate: Some(create),
            xCachesize: Some(cache_size),
            xPagecount: Some(page_count),
            xFetch: Some(fetch),
            xUnpin: Some(unpin),
            xRekey: Some(rekey),
            xTruncate: Some(truncate),
            xDestroy: Some(destroy),
            xShrink: Some(shrink),
        };
        // SAFETY: SQLite copies the struct; every method it names is defined below.
        let rc = unsafe {
            ffi::sqlite3_config(
                ffi::SQLITE_CONFIG_PCACHE2,
                &wrapper as *const ffi::sqlite3_pcache_methods2,
            )
        };
        rc == ffi::SQLITE_OK
    })
}

/// One cache of the default kind, and which page numbers it may hold.
struct Tracked {
    inner: *mut ffi::sqlite3_pcache,
    /// No page is held under a higher number, except those in `passing`.
    highest: c_uint,
    /// Numbers above `highest` a page was renamed to and not yet away from.
    passing: Vec<c_uint>,
}

fn methods() -> &'static ffi::sqlite3_pcache_methods2 {
    &DEFAULT
        .get()
        .expect("set before the wrapper is installed")
        .0
}

/// # Safety
/// `cache` is a pointer `create` returned and `destroy` has not freed; SQLite uses one cache
/// from one thread at a time.
unsafe fn tracked<'a>(cache: *mut ffi::sqlite3_pcache) -> &'a mut Tracked {
    &mut *cache.cast::<Tracked>()
}

unsafe extern "C" fn create(
    page_size: c_int,
    extra: c_int,
    purgeable: c_int,
) -> *mut ffi::sqlite3_pcache {
    let Some(create) = methods().xCreate else {
        return null_mut();
    };
    let inner = create(page_size, extra, purgeable);
    if inner.is_null() {
        return null_mut();
    }
    let cache = Tracked {
        inner,
        highest: 0,
        passing: Vec::new(),
    };
    Box::into_raw(Box::new(cache)).cast()
}

unsafe extern "C" fn cache_size(cache: *mut ffi::sqlite3_pcache, pages: c_int) {
    if let Some(f) = methods().xCachesize {
        f(tracked(cache).inner, pages)
    }
}

unsafe extern "C" fn page_count(cache: *mut ffi::sqlite3_pcache) -> c_int {
    methods().xPagecount.map_or(0, |f| f(tracked(cache).inner))
}

unsafe extern "C" fn fetch(
    cache: *mut ffi::sqlite3_pcache,
    key: c_uint,
    create: c_int,
) -> *mut ffi::sqlite3_pcache_page {
    let cache = tracked(cache);
    let Some(f) = methods().xFetch else {
        return null_mut();
    };
    let page = f(cache.inner, key, create);
    if !page.is_null() {
        cache.highest = cache.highest.max(key);
    }
    page
}

unsafe extern "C" fn unpin(
    cache: *mut ffi::sqlite3_pcache,
    page: *mut ffi::sqlite3_pcache_page,
    discard: c_int,
) {
    if let Some(f) = methods().xUnpin {
        f(tracked(cache).inner, page, discard)
    }
}

unsafe extern "C" fn rekey(
    cache: *mut ffi::sqlite3_pcache,
    page: *mut ffi::sqlite3_pcache_page,
    old: c_uint,
    new: c_uint,
) {
    let cache = tracked(cache);
    if let Some(f) = methods().xRekey {
        f(cache.inner, page, old, new)
    }
    cache.passing.retain(|&k| k != old);
    if new > cache.highest {
        cache.passing.push(new);
        #[cfg(test)]
        tests::count(&tests::PASSING);
    }
}

unsafe extern "C" fn truncate(cache: *mut ffi::sqlite3_pcache, limit: c_uint) {
    let cache = tracked(cache);
    if limit > cache.highest && cache.passing.iter().all(|&k| k < limit) {
        return; // nothing held at or above `limit`
    }
    #[cfg(test)]
    tests::count(&tests::TRUNCATED);
    if let Some(f) = methods().xTruncate {
        f(cache.inner, limit)
    }
    cache.highest = cache.highest.min(limit.saturating_sub(1));
    cache.passing.retain(|&k| k < limit);
}

unsafe extern "C" fn destroy(cache: *mut ffi::sqlite3_pcache) {
    let cache = Box::from_raw(cache.cast::<Tracked>());
    if let Some(f) = methods().xDestroy {
        f(cache.inner)
    }
}

unsafe extern "C" fn shrink(cache: *mut ffi::sqlite3_pcache) {
    if let Some(f) = methods().xShrink {
        f(tracked(cache).inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;
    use std::cell::Cell;

    thread_local! {
        /// Renamings to a number above every page held, and truncations passed on.
        pub static PASSING: Cell<u64> = const { Cell::new(0) };
        pub static TRUNCATED: Cell<u64> = const { Cell::new(0) };
    }

    pub fn count(counter: &'static std::thread::LocalKey<Cell<u64>>) {
        counter.with(|c| c.set(c.get() + 1));
    }

    fn random_key(n: u64) -> String {
        uuid::Uuid::from_u64_pair(n.wrapping_mul(0x9E37_79B9_7F4A_7C15), n).to_string()
    }

    fn open(dir: &std::path::Path) -> Connection {
        let conn = Connection::open(dir.join("cache.db")).unwrap();
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))
            .unwrap();
        conn.execute_batch(
            "PRAGMA cache_size = -65536;
             CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT NOT NULL);",
        )
        .unwrap();
        conn
    }

    /// Every row committed, and only those, read back from a file SQLite finds sound.
    fn assert_holds(conn: &Connection, committed: &std::collections::BTreeSet<String>) {
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
        let mut stmt = conn.prepare("SELECT k FROM t ORDER BY k").unwrap();
        let stored: std::collections::BTreeSet<String> = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(&stored, committed);
    }

    #[test]
    fn commits_after_reordering_splits_scan_nothing_and_rollbacks_still_drop_pages() {
        assert!(
            install(),
            "SQLite was initialized before the cache was installed"
        );
        let dir = tempfile::tempdir().unwrap();
        let conn = open(dir.path());
        let truncated_at_open = TRUNCATED.with(Cell::get);
        let mut committed = std::collections::BTreeSet::new();
        let value = "v".repeat(200);
        for group in 0..400u64 {
            let tx = conn.unchecked_transaction().unwrap();
            for i in 0..25 {
                let k = random_key(group * 25 + i);
                tx.execute("INSERT INTO t VALUES (?1, ?2)", (&k, &value))
                    .unwrap();
                committed.insert(k);
            }
            tx.commit().unwrap();
        }
        assert!(
            PASSING.with(Cell::get) > 0,
            "random inserts reorder split pages through the 1 GiB page number"
        );
        assert_eq!(
            TRUNCATED.with(Cell::get),
            truncated_at_open,
            "a file that only grew has nothing to drop at a commit"
        );
        assert_holds(&conn, &committed);

        // A rolled-back transaction that grew the file leaves pages past its end, which the
        // cache must drop, or the file's next pages would be read as those stale ones.
        for group in 400..600u64 {
            let tx = conn.unchecked_transaction().unwrap();
            let mut keys = Vec::new();
            for i in 0..25 {
                let k = random_key(group * 25 + i);
                tx.execute("INSERT INTO t VALUES (?1, ?2)", (&k, &value))
                    .unwrap();
                keys.push(k);
            }
            if group % 3 == 0 {
                tx.rollback().unwrap();
            } else {
                tx.commit().unwrap();
                committed.extend(keys);
            }
        }
        assert_holds(&conn, &committed);
        assert!(
            TRUNCATED.with(Cell::get) > truncated_at_open,
            "rollbacks truncate the cache"
        );
    }
}
