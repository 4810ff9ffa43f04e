//! The process's allocator: a bump arena for `tollgate hook`, the system allocator otherwise.
//!
//! A hook call lives a few milliseconds and allocates ~1.3 MB in ~3,400 allocations (1M-event
//! store, three built-ins). Handing out the next bytes of a zeroed static region costs a few
//! instructions and no system call; the kernel takes the pages back at exit. Measured
//! interleaved on plain release builds, it saved 0.24-0.34 ms a call with glibc or musl, and
//! made the static musl build (no glibc start-up) the faster one (README "Hook speed").
//!
//! A freed block is reused: the heap's latest block gives its bytes back to the heap, any other
//! joins a free list by size class (16-byte steps to 256 bytes, powers of two to 16 KiB) and
//! serves a later request it holds. About half of what a call allocates is freed before it
//! ends; each page the call does not touch afresh is a page fault saved (~1-2 µs here): 60 of
//! ~415 a call (medians of 21 calls).
//!
//! On Linux the heap starts on a 2 MiB boundary and is advised as transparent huge pages
//! (`MADV_HUGEPAGE`, honoured unless the system's THP setting is `never`): a call's first
//! allocation maps one 2 MiB page, and the ~150 faults of ~1.5 µs each that filling 4 KiB
//! pages took (SQLite's page cache, its statements, the input and the policies' documents)
//! are gone. Zeroing that page costs ~0.15 ms, once; whole-call p50 fell 0.1-0.28 ms in four
//! interleaved comparisons (README "Hook speed"), max RSS rose by 1.7-2.1 MiB.
//!
//! Until [`enable`] (and in every other subcommand, which may read gigabytes), and for what no
//! longer fits in the arena, allocations go to the system allocator; `dealloc` and `realloc`
//! tell the two apart by address.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::sync::atomic::{
    AtomicBool,
    Ordering::{Acquire, Relaxed, Release},
};

/// The arena's size: 40x what a typical hook call allocates, and untouched pages cost nothing.
const CAPACITY: usize = 32 << 20;

#[global_allocator]
static ALLOCATOR: Arena<CAPACITY> = Arena::new();

/// Sends this process's later allocations to the arena (Rust's and, if no connection has been
/// opened yet, SQLite's). For `tollgate hook` only: the arena never returns memory to the
/// system, and its heap is sized for one short call.
pub fn enable() {
    sqlite::use_global_allocator();
    ALLOCATOR.use_huge_pages();
    ALLOCATOR.enable();
}

/// The size of a transparent huge page on x86-64 (and on aarch64 with 4 KiB pages; where huge
/// pages are larger, the advice is harmless and the heap only starts up to 2 MiB later).
#[cfg(target_os = "linux")]
const HUGE_PAGE: usize = 2 << 20;

/// A bump allocator over `N` static bytes that reuses freed blocks and falls back to [`System`].
#[repr(C, align(4096))]
pub struct Arena<const N: usize> {
    heap: UnsafeCell<[u8; N]>,
    /// The bump offset and the free lists, only touched while `locked` is held.
    state: UnsafeCell<State>,
    locked: AtomicBool,
    enabled: AtomicBool,
}

/// What the arena has handed out and taken back.
struct State {
    /// Offset of the first never-used byte in `heap`.
    next: usize,
    /// One list of freed blocks per size class ([`fitting`]); each free block starts with the
    /// pointer to the next one.
    free: [*mut u8; CLASSES],
}

/// Size classes of reused blocks: 16-byte steps up to 256 bytes, then powers of two to 16 KiB.
const CLASSES: usize = 16 + 6;

/// The alignment of every block in the heap, so the most a request served from a free list may
/// ask.
const GRAIN: usize = 16;

/// The smallest class whose blocks all hold `size` bytes, if `size` is small enough to reuse.
fn fitting(size: usize) -> Option<usize> {
    if size <= 256 {
        return Some(size.saturating_sub(1) / 16);
    }
    let class = 16 + (size.next_power_of_two().trailing_zeros() as usize - 9);
    (class < CLASSES).then_some(class)
}

/// The largest class a freed block of `size` bytes can serve, if any.
fn holding(size: usize) -> Option<usize> {
    match size {
        0..16 => None,
        16..512 => Some(size.min(256) / 16 - 1),
        _ => Some((16 + size.ilog2() as usize - 9).min(CLASSES - 1)),
    }
}

// SAFETY: `heap` is only handed out in disjoint ranges, and `state`, which records them, is only
// read or written while holding `locked`.
unsafe impl<const N: usize> Sync for Arena<N> {}

impl<const N: usize> Arena<N> {
    /// An empty, disabled arena.
    pub const fn new() -> Self {
        Self {
            heap: UnsafeCell::new([0; N]),
            state: UnsafeCell::new(State {
                next: 0,
                free: [std::ptr::null_mut(); CLASSES],
            }),
            locked: AtomicBool::new(false),
            enabled: AtomicBool::new(false),
        }
    }

    /// Starts taking allocations.
    pub fn enable(&self) {
        self.enabled.store(true, Relaxed);
    }

    /// Backs the heap with transparent huge pages where the system allows them (Linux
    /// `madvise(MADV_HUGEPAGE)`), so that its first touch maps 2 MiB at once instead of
    /// faulting in a call's ~150 pages one by one; the heap then starts on a huge-page boundary.
    /// Meant to be called before [`Arena::enable`]. Does nothing where the heap holds no aligned
    /// huge page, where blocks already reach past the boundary, where the kernel refuses the
    /// advice (no THP support), or on other systems.
    pub fn use_huge_pages(&self) {
        #[cfg(target_os = "linux")]
        {
            let base = self.base();
            let Some(aligned) = base.checked_next_multiple_of(HUGE_PAGE) else {
                return;
            };
            let skip = aligned - base;
            let len = N.saturating_sub(skip) / HUGE_PAGE * HUGE_PAGE;
            let mut state = self.lock();
            if len == 0 || state.next > skip {
                return;
            }
            // SAFETY: the range is page-aligned and wholly inside `heap`; MADV_HUGEPAGE changes
            // only how those pages are backed, never their contents.
            if unsafe { libc::madvise(aligned as *mut _, len, libc::MADV_HUGEPAGE) } == 0 {
                state.next = skip;
            }
        }
    }

    /// Bytes claimed from the heap so far (including alignment padding).
    #[cfg(test)]
    fn used(&self) -> usize {
        self.lock().next
    }

    /// The arena's state, held until the guard drops. A hook call is one thread in practice,
    /// so the lock is never waited for; it only keeps the allocator sound if it is not.
    fn lock(&self) -> Locked<'_, N> {
        while self
            .locked
            .compare_exchange_weak(false, true, Acquire, Relaxed)
            .is_err()
        {
            std::hint::spin_loop();
        }
        Locked(self)
    }

    fn base(&self) -> usize {
        self.heap.get() as usize
    }

    fn offset_of(&self, ptr: *mut u8) -> Option<usize> {
        (ptr as usize)
            .checked_sub(self.base())
            .filter(|&offset| offset < N)
    }

    /// A freed block that holds `layout`, else the next bytes of the heap, if they fit.
    // Out of line: the allocator is called from thousands of places, and inlined into each it
    // made the executable 2.5 MB larger.
    #[inline(never)]
    fn claim(&self, layout: Layout) -> Option<*mut u8> {
        let mut state = self.lock();
        if layout.align() <= GRAIN
            && let Some(class) = fitting(layout.size())
        {
            let head = state.free[class];
            if !head.is_null() {
                // SAFETY: a free block starts with the pointer to the next one (see `release`).
                state.free[class] = unsafe { head.cast::<*mut u8>().read() };
                return Some(head);
            }
        }
        // Every block starts on the grain, so that any can be reused.
        let base = self.base();
        let align = layout.align().max(GRAIN);
        let start = (base + state.next).checked_next_multiple_of(align)? - base;
        let end = start.checked_add(layout.size()).filter(|&end| end <= N)?;
        state.next = end;
        // SAFETY: `start + size <= N`, so the pointer stays inside `heap`.
        Some(unsafe { (self.heap.get() as *mut u8).add(start) })
    }

    /// Takes back the `size` bytes at `offset`: the heap's latest block returns them to the
    /// heap, any other joins the free list of the largest class it holds.
    #[inline(never)]
    fn release(&self, offset: usize, size: usize) {
        let mut state = self.lock();
        if offset + size == state.next {
            state.next = offset;
            return;
        }
        // SAFETY: `offset` is inside `heap` (the caller found it there).
        let ptr = unsafe { (self.heap.get() as *mut u8).add(offset) };
        if let Some(class) = holding(size) {
            // SAFETY: the block is freed, starts on the grain (see `claim`) and holds at least
            // 16 bytes.
            unsafe { ptr.cast::<*mut u8>().write(state.free[class]) };
            state.free[class] = ptr;
        }
    }

    /// Moves the end of the latest block from `old_end` to `new_end`, if the block ending at
    /// `old_end` is the heap's latest and the heap has room.
    #[inline(never)]
    fn resize_last(&self, old_end: usize, new_end: usize) -> bool {
        let mut state = self.lock();
        let fits = state.next == old_end && new_end <= N;
        if fits {
            state.next = new_end;
        }
        fits
    }
}

/// The arena's state while its lock is held.
struct Locked<'a, const N: usize>(&'a Arena<N>);

impl<const N: usize> std::ops::Deref for Locked<'_, N> {
    type Target = State;

    fn deref(&self) -> &State {
        // SAFETY: the lock is held, so no other reference to the state exists.
        unsafe { &*self.0.state.get() }
    }
}

impl<const N: usize> std::ops::DerefMut for Locked<'_, N> {
    fn deref_mut(&mut self) -> &mut State {
        // SAFETY: the lock is held, so no other reference to the state exists.
        unsafe { &mut *self.0.state.get() }
    }
}

impl<const N: usize> Drop for Locked<'_, N> {
    fn drop(&mut self) {
        self.0.locked.store(false, Release);
    }
}

impl<const N: usize> Default for Arena<N> {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: every pointer returned is valid for its layout and unique until freed: heap ranges
// never overlap, a freed block is handed out again only once it left its free list and only for
// a size it holds and an alignment it has, and the rest come from `System`, to which only its
// own pointers return.
unsafe impl<const N: usize> GlobalAlloc for Arena<N> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if self.enabled.load(Relaxed)
            && let Some(ptr) = self.claim(layout)
        {
            return ptr;
        }
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match self.offset_of(ptr) {
            Some(offset) => self.release(offset, layout.size()),
            // SAFETY: not ours, so `System` allocated it.
            None => unsafe { System.dealloc(ptr, layout) },
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Some(offset) = self.offset_of(ptr) else {
            // SAFETY: not ours, so `System` allocated it.
            return unsafe { System.realloc(ptr, layout, new_size) };
        };
        if self.resize_last(offset + layout.size(), offset + new_size) {
            return ptr;
        }
        if new_size <= layout.size() {
            return ptr;
        }
        // SAFETY: `new_size` is non-zero and, rounded to the alignment, fits `isize` (the
        // caller's contract).
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: as for `alloc`.
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both are valid for `layout.size()` bytes and distinct allocations.
            unsafe { std::ptr::copy_nonoverlapping(ptr, new, layout.size()) };
            self.release(offset, layout.size());
        }
        new
    }
}

/// SQLite's allocations through Rust's global allocator (so that they land in the arena).
mod sqlite {
    use rusqlite::ffi;
    use std::alloc::{Layout, alloc, dealloc, realloc};
    use std::ffi::{c_int, c_void};

    /// Each block starts with its size, which SQLite asks back (`xSize`).
    const HEADER: usize = 16;

    fn layout(size: usize) -> Option<Layout> {
        Layout::from_size_align(size.checked_add(HEADER)?, HEADER).ok()
    }

    /// Installs the allocator; a no-op (SQLite says misuse) once SQLite is initialised.
    pub(super) fn use_global_allocator() {
        let methods = ffi::sqlite3_mem_methods {
            xMalloc: Some(x_malloc),
            xFree: Some(x_free),
            xRealloc: Some(x_realloc),
            xSize: Some(x_size),
            xRoundup: Some(x_roundup),
            xInit: Some(x_init),
            xShutdown: Some(x_shutdown),
            pAppData: std::ptr::null_mut(),
        };
        // SAFETY: SQLITE_CONFIG_MALLOC copies the methods before it returns; called before
        // any connection is opened (else SQLite refuses it and keeps its own).
        unsafe { ffi::sqlite3_config(ffi::SQLITE_CONFIG_MALLOC, &raw const methods) };
    }

    pub(super) unsafe extern "C" fn x_malloc(size: c_int) -> *mut c_void {
        let Some(layout) = layout(size.max(0) as usize) else {
            return std::ptr::null_mut();
        };
        // SAFETY: the layout is non-zero in size.
        let block = unsafe { alloc(layout) };
        if block.is_null() {
            return block.cast();
        }
        // SAFETY: the block has room for the header, aligned for a usize.
        unsafe {
            block.cast::<usize>().write(layout.size());
            block.add(HEADER).cast()
        }
    }

    /// The block behind a pointer `x_malloc` returned, and its layout.
    ///
    /// # Safety
    /// `ptr` came from `x_malloc` or `x_realloc` and was not freed.
    unsafe fn block(ptr: *mut c_void) -> (*mut u8, Layout) {
        // SAFETY: the header precedes the pointer, holding the block's size.
        unsafe {
            let block = ptr.cast::<u8>().sub(HEADER);
            let size = block.cast::<usize>().read();
            (block, Layout::from_size_align_unchecked(size, HEADER))
        }
    }

    pub(super) unsafe extern "C" fn x_free(ptr: *mut c_void) {
        if !ptr.is_null() {
            // SAFETY: SQLite frees only what its allocator gave it, once.
            unsafe {
                let (block, layout) = block(ptr);
                dealloc(block, layout);
            }
        }
    }

    pub(super) unsafe extern "C" fn x_realloc(ptr: *mut c_void, size: c_int) -> *mut c_void {
        let Some(new) = layout(size.max(0) as usize) else {
            return std::ptr::null_mut();
        };
        // SAFETY: SQLite reallocates only live blocks of this allocator (never null here).
        unsafe {
            let (block, old) = block(ptr);
            let grown = realloc(block, old, new.size());
            if grown.is_null() {
                return grown.cast();
            }
            grown.cast::<usize>().write(new.size());
            grown.add(HEADER).cast()
        }
    }

    pub(super) unsafe extern "C" fn x_size(ptr: *mut c_void) -> c_int {
        if ptr.is_null() {
            return 0;
        }
        // SAFETY: a live block of this allocator.
        let (_, layout) = unsafe { block(ptr) };
        (layout.size() - HEADER) as c_int
    }

    unsafe extern "C" fn x_roundup(size: c_int) -> c_int {
        size.saturating_add(7) & !7
    }

    unsafe extern "C" fn x_init(_: *mut c_void) -> c_int {
        ffi::SQLITE_OK
    }

    unsafe extern "C" fn x_shutdown(_: *mut c_void) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arena() -> Box<Arena<4096>> {
        let arena = Box::new(Arena::<4096>::new());
        arena.enable();
        arena
    }

    fn inside(arena: &Arena<4096>, ptr: *mut u8) -> bool {
        arena.offset_of(ptr).is_some()
    }

    #[test]
    fn a_disabled_arena_passes_everything_to_the_system() {
        let arena = Box::new(Arena::<4096>::new());
        let layout = Layout::from_size_align(64, 8).unwrap();
        unsafe {
            let ptr = arena.alloc(layout);
            assert!(!ptr.is_null() && !inside(&arena, ptr));
            arena.dealloc(ptr, layout);
        }
        assert_eq!(arena.used(), 0);
    }

    #[test]
    fn allocations_are_aligned_and_disjoint() {
        let arena = arena();
        let mut seen = Vec::new();
        for (size, align) in [(3, 1), (8, 8), (1, 64), (24, 16), (5, 2)] {
            let ptr = unsafe { arena.alloc(Layout::from_size_align(size, align).unwrap()) };
            assert!(inside(&arena, ptr));
            assert_eq!(ptr as usize % align, 0, "{size} bytes aligned to {align}");
            unsafe { ptr.write_bytes(0xAB, size) };
            seen.push((ptr as usize, ptr as usize + size));
        }
        seen.sort();
        assert!(seen.windows(2).all(|w| w[0].1 <= w[1].0), "{seen:?}");
    }

    #[test]
    fn the_latest_allocation_grows_in_place_and_gives_back_its_bytes() {
        let arena = arena();
        let small = Layout::from_size_align(16, 8).unwrap();
        unsafe {
            let first = arena.alloc(small);
            let last = arena.alloc(small);
            let grown = arena.realloc(last, small, 100);
            assert_eq!(grown, last);
            assert_eq!(arena.used(), last as usize - first as usize + 100);
            arena.dealloc(grown, Layout::from_size_align(100, 8).unwrap());
            assert_eq!(arena.alloc(small), last, "freed bytes are reused");
            // An earlier one moves, keeping its bytes, and its old block is freed.
            first.write_bytes(7, 16);
            let moved = arena.realloc(first, small, 32);
            assert_ne!(moved, first);
            assert_eq!(std::slice::from_raw_parts(moved, 16), &[7; 16]);
            assert_eq!(arena.alloc(small), first, "the old block is reused");
        }
    }

    #[test]
    fn freed_blocks_serve_later_requests_they_hold() {
        let arena = arena();
        let layout = |size| Layout::from_size_align(size, 8).unwrap();
        unsafe {
            let a = arena.alloc(layout(48));
            let _b = arena.alloc(layout(16));
            arena.dealloc(a, layout(48));
            assert_ne!(arena.alloc(layout(64)), a, "too small for 64 bytes");
            let strict = Layout::from_size_align(32, 64).unwrap();
            assert_ne!(arena.alloc(strict), a, "not aligned to 64");
            assert_eq!(arena.alloc(layout(40)), a, "holds 40 bytes");
            assert_ne!(arena.alloc(layout(40)), a, "handed out once");
            // Its 48 bytes are still its own: freed as 40, it serves 32 but not 48.
            arena.dealloc(a, layout(40));
            assert_ne!(arena.alloc(layout(48)), a);
            assert_eq!(arena.alloc(layout(32)), a);
        }
    }

    #[test]
    fn threads_never_share_a_block() {
        static ARENA: Arena<{ 1 << 20 }> = Arena::new();
        let arena = &ARENA;
        arena.enable();
        let threads: Vec<_> = (0..4u8)
            .map(|t| {
                std::thread::spawn(move || {
                    let mut live = Vec::new();
                    for i in 0..2000usize {
                        let layout =
                            Layout::from_size_align(16 + (i * 7 + t as usize) % 300, 8).unwrap();
                        let ptr = unsafe { arena.alloc(layout) };
                        unsafe { ptr.write_bytes(t, layout.size()) };
                        live.push((ptr, layout));
                        if i % 3 == 0 {
                            let (ptr, layout) = live.swap_remove(i % live.len());
                            let bytes = unsafe { std::slice::from_raw_parts(ptr, layout.size()) };
                            assert!(bytes.iter().all(|&b| b == t), "block overwritten");
                            unsafe { arena.dealloc(ptr, layout) };
                        }
                    }
                    for (ptr, layout) in live {
                        let bytes = unsafe { std::slice::from_raw_parts(ptr, layout.size()) };
                        assert!(bytes.iter().all(|&b| b == t), "block overwritten");
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
    }

    /// The `/proc/self/smaps` entry of the mapping that holds `addr`: its `VmFlags` and its
    /// `AnonHugePages` in KiB.
    #[cfg(target_os = "linux")]
    fn mapping_of(addr: usize) -> (String, usize) {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let (mut flags, mut huge_kib, mut holds) = (String::new(), 0, false);
        for line in smaps.lines() {
            if let Some((range, _)) = line.split_once(' ')
                && let Some((start, end)) = range.split_once('-')
                && let (Ok(start), Ok(end)) = (
                    usize::from_str_radix(start, 16),
                    usize::from_str_radix(end, 16),
                )
            {
                holds = (start..end).contains(&addr);
            } else if holds && let Some(kib) = line.strip_prefix("AnonHugePages:") {
                huge_kib = kib.trim().trim_end_matches(" kB").parse().unwrap();
            } else if holds && let Some(list) = line.strip_prefix("VmFlags:") {
                flags = list.trim().to_string();
            }
        }
        (flags, huge_kib)
    }

    /// The kernel's count of huge-page faults that fell back to 4 KiB pages.
    #[cfg(target_os = "linux")]
    fn thp_fallbacks() -> u64 {
        std::fs::read_to_string("/proc/vmstat")
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("thp_fault_fallback "))
            .map_or(0, |n| n.parse().unwrap())
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_heap_starts_on_a_huge_page_that_the_system_backs_as_one() {
        static ARENA: Arena<{ 8 << 20 }> = Arena::new();
        let setting = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled");
        let fallbacks = thp_fallbacks();
        ARENA.use_huge_pages();
        ARENA.enable();
        let Ok(setting) = setting else {
            // A kernel without THP refuses the advice: the heap starts where it did.
            assert_eq!(ARENA.used(), 0);
            return;
        };
        let layout = Layout::from_size_align(1 << 20, 8).unwrap();
        let ptr = unsafe { ARENA.alloc(layout) };
        assert!(ARENA.offset_of(ptr).is_some());
        assert_eq!(
            ptr as usize % HUGE_PAGE,
            0,
            "the first block starts the huge page"
        );
        unsafe { ptr.write_bytes(1, layout.size()) };

        let (flags, huge_kib) = mapping_of(ptr as usize);
        assert!(
            flags.split(' ').any(|f| f == "hg"),
            "the block's mapping is advised for huge pages: VmFlags {flags:?}"
        );
        if setting.contains("[never]") {
            assert_eq!(huge_kib, 0, "THP is off here ({setting:?})");
        } else if thp_fallbacks() == fallbacks {
            assert!(
                huge_kib >= 2048,
                "THP {setting:?}, no fallback: the block's mapping has {huge_kib} KiB of huge pages"
            );
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn blocks_already_past_the_boundary_keep_the_heap_where_it_is() {
        static ARENA: Arena<{ 8 << 20 }> = Arena::new();
        ARENA.enable();
        let first = unsafe { ARENA.alloc(Layout::from_size_align(HUGE_PAGE, 8).unwrap()) };
        let used = ARENA.used();
        ARENA.use_huge_pages();
        assert_eq!(ARENA.used(), used, "no block is handed out twice");
        let next = unsafe { ARENA.alloc(Layout::from_size_align(16, 8).unwrap()) };
        assert_eq!(next as usize, first as usize + HUGE_PAGE);
    }

    #[test]
    fn a_heap_smaller_than_a_huge_page_starts_where_it_did() {
        let arena = Box::new(Arena::<4096>::new());
        arena.use_huge_pages();
        assert_eq!(arena.used(), 0);
    }

    #[test]
    fn size_classes_hold_what_they_promise() {
        // The smallest block filed under each class.
        let least = |class: usize| {
            if class < 16 {
                (class + 1) * 16
            } else {
                512 << (class - 16)
            }
        };
        for size in 1..=40_000 {
            match fitting(size) {
                Some(class) => {
                    assert!(least(class) >= size, "{size} bytes from class {class}");
                    assert!(
                        class == 0 || least(class - 1) < size,
                        "{size}: a smaller class fits"
                    );
                }
                None => assert!(size > 16 << 10),
            }
            match holding(size) {
                Some(class) => assert!(least(class) <= size, "a {size}-byte block in {class}"),
                None => assert!(size < 16),
            }
        }
    }

    #[test]
    fn what_does_not_fit_goes_to_the_system_and_back() {
        let arena = arena();
        let big = Layout::from_size_align(8192, 8).unwrap();
        unsafe {
            let ptr = arena.alloc(big);
            assert!(!ptr.is_null() && !inside(&arena, ptr));
            arena.dealloc(ptr, big);
            // Growing an arena block past the end moves it to the system, data and all.
            let small = Layout::from_size_align(8, 8).unwrap();
            let block = arena.alloc(small);
            block.write_bytes(9, 8);
            let moved = arena.realloc(block, small, 8192);
            assert!(!inside(&arena, moved));
            assert_eq!(std::slice::from_raw_parts(moved, 8), &[9; 8]);
            arena.dealloc(moved, big);
        }
    }

    #[test]
    fn sqlite_runs_on_the_rust_allocator() {
        // The config only takes before SQLite is initialised, which other tests in this
        // process may already have done; the methods are checked directly here, and every
        // end-to-end test runs SQLite on them in the real binary.
        unsafe {
            let ptr = sqlite::x_malloc(100);
            assert!(!ptr.is_null());
            assert_eq!(sqlite::x_size(ptr), 100);
            ptr.cast::<u8>().write_bytes(1, 100);
            let grown = sqlite::x_realloc(ptr, 5000);
            assert_eq!(sqlite::x_size(grown), 5000);
            assert_eq!(
                std::slice::from_raw_parts(grown.cast::<u8>(), 100),
                &[1; 100]
            );
            sqlite::x_free(grown);
        }
    }
}
