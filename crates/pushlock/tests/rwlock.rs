//! `pushlock::RwLock<T>` through `lock_api`: guards, try-locks, and data protected across threads.
#![cfg(not(loom))]

use std::sync::Arc;
use std::thread;

use pushlock::RwLock;

#[test]
fn guards_exclude_as_a_reader_writer_lock_must() {
    let lock = RwLock::new(vec![1, 2, 3]);
    {
        let first = lock.read();
        let second = lock.try_read().expect("readers share");
        assert!(lock.try_write().is_none(), "no writer while read");
        assert_eq!(first.len() + second.len(), 6);
        drop((first, second));
    }
    {
        let mut writer = lock.write();
        writer.push(4);
        assert!(lock.try_read().is_none(), "no reader while written");
        assert!(lock.try_write().is_none(), "no second writer");
        assert!(lock.is_locked_exclusive());
        drop(writer);
    }
    assert!(!lock.is_locked());
    assert_eq!(*lock.read(), [1, 2, 3, 4]);
    assert_eq!(lock.into_inner(), [1, 2, 3, 4]);
}

#[test]
fn counter_is_exact_across_threads() {
    const THREADS: u64 = 4;
    let per_thread: u64 = if cfg!(miri) { 20 } else { 10_000 };
    let lock = Arc::new(RwLock::new(0_u64));
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let lock = lock.clone();
            thread::spawn(move || {
                for i in 0..per_thread {
                    if i % 4 == 0 {
                        *lock.write() += 1;
                    } else {
                        assert!(*lock.read() <= THREADS * per_thread);
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    assert_eq!(*lock.read(), THREADS * per_thread / 4);
}

#[test]
fn size_is_one_word() {
    assert_eq!(
        size_of::<pushlock::RawPushLock<pushlock::StdPlatform>>(),
        size_of::<usize>()
    );
    assert_eq!(size_of::<pushlock::EX_PUSH_LOCK>(), size_of::<usize>());
    assert_eq!(size_of::<RwLock<()>>(), size_of::<usize>());
}
