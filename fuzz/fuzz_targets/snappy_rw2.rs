//! Fuzzes the RW 2.0 snappy encoder (`encode::snappy`, reached through
//! `Compressor::compress_rw2_into`): whatever the input, the output is a snappy block that
//! `snap` decodes back to exactly the input, within snappy's maximum compressed length.
//! Inputs are also repeated with small changes, so that long matches, copies across the
//! whole 64 KiB window and block boundaries are reached.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use ringwrite::encode::{Compression, Compressor};

fn check(c: &mut Compressor, arena: &mut BytesMut, input: &[u8]) {
    let body = c.compress_rw2_into(input, arena).expect("compresses");
    assert!(body.len() <= 32 + input.len() + input.len() / 6);
    let back = snap::raw::Decoder::new()
        .decompress_vec(&body)
        .expect("snap decodes our output");
    assert_eq!(back, input);
}

fuzz_target!(|data: &[u8]| {
    let mut c = Compressor::new(Compression::Snappy);
    let mut arena = BytesMut::new();
    check(&mut c, &mut arena, data);
    if !data.is_empty() {
        let mut long = Vec::new();
        let mut k = 0u8;
        while long.len() < 70_000 {
            long.extend_from_slice(data);
            long.push(k);
            k = k.wrapping_add(1);
        }
        check(&mut c, &mut arena, &long);
    }
});
