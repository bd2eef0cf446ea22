//! Locking shared state. A thread that panicked while holding a lock (a failing test, a
//! bug) must not take every later caller down with it: the data is still used as left.

use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, poisoned or not.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
