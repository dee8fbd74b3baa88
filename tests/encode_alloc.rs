//! Steady-state encoding does not allocate (DESIGN.md invariant 5): after a warm-up,
//! encoding, compressing and handing out a batch again performs zero heap allocations
//! on the encoding thread. Uses a counting global allocator, so it lives in its own
//! test binary.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bytes::BytesMut;
use ringwrite::encode::{
    Compression, Compressor, EncodedSeries, Rw1Encoder, Rw2Encoder, SymbolInterner,
};
use ringwrite::record::{FloatHistogram, Histogram, MetricType, RefSample, Span};

struct Counting;

thread_local! {
    /// Allocations made by this thread while `COUNTING` is set.
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn note_alloc() {
    // try_with: the allocator can run while thread-locals are being torn down.
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = ALLOCS.try_with(|n| n.set(n.get() + 1));
        }
    });
}

// SAFETY: every method forwards to `System` unchanged; counting has no effect on memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_alloc();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_alloc();
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_alloc();
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` and returns how many allocations this thread made meanwhile.
fn allocations_in(f: impl FnOnce()) -> u64 {
    ALLOCS.with(|n| n.set(0));
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCS.with(|n| n.get())
}

struct Fixture {
    interner: SymbolInterner,
    series: Vec<std::sync::Arc<EncodedSeries>>,
    histogram: Histogram,
    float_histogram: FloatHistogram,
    trace_ids: Vec<String>,
}

fn fixture() -> Fixture {
    let mut interner = SymbolInterner::new();
    let series = (0..500)
        .map(|i| {
            let pod = format!("api-{i:05}-7f9c");
            let labels: [(&[u8], &[u8]); 4] = [
                (b"__name__", b"http_requests_total"),
                (b"instance", b"10.0.0.1:9090"),
                (b"job", b"api"),
                (b"pod", pod.as_bytes()),
            ];
            EncodedSeries::new(labels, &mut interner)
                .unwrap()
                .with_metadata(&mut interner, MetricType::Counter, b"Requests.", b"")
                .unwrap()
        })
        .collect();
    let histogram = Histogram {
        schema: 3,
        count: 10,
        sum: 12.5,
        positive_spans: vec![Span {
            offset: 1,
            length: 3,
        }],
        positive_deltas: vec![1, 2, -1],
        ..Histogram::default()
    };
    let float_histogram = FloatHistogram {
        schema: -53,
        count: 4.0,
        positive_spans: vec![Span {
            offset: 0,
            length: 2,
        }],
        positive_counts: vec![1.0, 3.0],
        custom_values: vec![0.1, 1.0],
        ..FloatHistogram::default()
    };
    let trace_ids = (0..50).map(|i| format!("trace-{i:032x}")).collect();
    Fixture {
        interner,
        series,
        histogram,
        float_histogram,
        trace_ids,
    }
}

fn sample(t: i64, v: f64) -> RefSample {
    RefSample {
        sref: 0,
        t,
        st: 0,
        v,
    }
}

fn run_rw1(enc: &mut Rw1Encoder, c: &mut Compressor, arena: &mut BytesMut, f: &Fixture) -> usize {
    let mut req = enc.begin();
    for (i, s) in f.series.iter().enumerate() {
        for k in 0..3 {
            req.push_sample(s, &sample(1000 + k, i as f64));
        }
        if i % 10 == 0 {
            let id = f.trace_ids[i % f.trace_ids.len()].as_bytes();
            req.push_exemplar(s, 1000, 1.0, [(&b"trace_id"[..], id)].into_iter());
            let _ = req.push_histogram(s, 1001, &f.histogram);
            let _ = req.push_float_histogram(s, 1002, &f.float_histogram);
        }
    }
    req.push_metadata(
        b"http_requests_total",
        MetricType::Counter,
        b"Requests.",
        b"",
    );
    let body = req.finish().unwrap();
    let compressed = c.compress(body.bytes).unwrap().len();
    let handed_out = c.compress_into(body.bytes, arena).unwrap();
    assert_eq!(handed_out.len(), compressed);
    compressed
}

fn run_rw2(enc: &mut Rw2Encoder, c: &mut Compressor, arena: &mut BytesMut, f: &Fixture) -> usize {
    let mut req = enc.begin(&f.interner);
    for (i, s) in f.series.iter().enumerate() {
        for k in 0..3 {
            req.push_sample(
                s,
                &RefSample {
                    sref: 0,
                    t: 1000 + k,
                    st: 900,
                    v: i as f64,
                },
            );
        }
        if i % 10 == 0 {
            let id = f.trace_ids[i % f.trace_ids.len()].as_bytes();
            req.push_exemplar(s, 1000, 1.0, [(&b"trace_id"[..], id)].into_iter());
            let _ = req.push_histogram(s, 1001, 0, &f.histogram);
            let _ = req.push_float_histogram(s, 1002, 0, &f.float_histogram);
        }
    }
    let body = req.finish().unwrap();
    // RW 2.0 bodies go through their own snappy encoder, written into the arena.
    c.compress_rw2_into(body.bytes, arena).unwrap().len()
}

#[test]
fn steady_state_encoding_does_not_allocate() {
    let f = fixture();
    let mut rw1 = Rw1Encoder::new();
    let mut rw2 = Rw2Encoder::new();
    let mut c = Compressor::new(Compression::Snappy);
    let mut arena = BytesMut::with_capacity(1 << 20);
    // Warm-up: buffers, remap table and the arena grow to their steady-state sizes.
    for _ in 0..2 {
        run_rw1(&mut rw1, &mut c, &mut arena, &f);
        run_rw2(&mut rw2, &mut c, &mut arena, &f);
    }
    let mut sizes = (0, 0);
    let n = allocations_in(|| {
        sizes.0 = run_rw1(&mut rw1, &mut c, &mut arena, &f);
        sizes.1 = run_rw2(&mut rw2, &mut c, &mut arena, &f);
    });
    assert!(
        sizes.0 > 1000 && sizes.1 > 1000,
        "batches were really encoded: {sizes:?}"
    );
    assert_eq!(n, 0, "allocations while encoding a warm batch");

    // The counter itself works: a fresh encoder must allocate.
    let cold = allocations_in(|| {
        run_rw1(&mut Rw1Encoder::new(), &mut c, &mut arena, &f);
    });
    assert!(
        cold > 0,
        "counting allocator saw no allocation from a cold encoder"
    );
}
