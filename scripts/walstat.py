#!/usr/bin/env python3
"""Describe (and sanity-check) a Prometheus WAL directory, independently of ringwrite.

Usage: walstat.py <wal dir> [--json] [--check-checkpoint-boundary]
       walstat.py <wal dir> --dump [--skip-checkpoint-samples]


A small, deliberately separate reader (stdlib only: its own CRC32C and snappy block decoder),
written from /work/shared/FORMATS.md §1-2, used by scripts/make-fixtures.sh to
  * print what a fixture contains (segments, sizes, page alignment, record types, compression,
    series/sample/exemplar counts, timestamp ranges, staleness markers) for the fixture README;
  * refuse a fixture that is broken (CRC mismatch, torn record in the middle, gaps in segment
    numbers) or, with --check-checkpoint-boundary, one where the newest checkpoint holds a sample
    at or after the earliest sample of the remaining segments (tests/promtool_compare.rs relies on
    that boundary being clean).
With --dump it prints every float sample and exemplar of the checkpoint and the segments in the
line format of `ringwrite wal inspect --dump` (labels in Go strconv.Quote style, values in Rust
`{}` style, StaleNaN/NaN/NaN(0x..) by bit pattern): a reference to diff ringwrite against.
It is slow (pure Python CRC), fine for the few MB of fixtures.
"""

import json
import os
import struct
import sys
import unicodedata
from decimal import Decimal

PAGE = 32 * 1024
HDR = 7
STALE_NAN_BITS = 0x7FF0000000000002

REC_NAMES = {
    1: "series", 2: "samples", 3: "tombstones", 4: "exemplars", 5: "mmapmarkers", 6: "metadata",
    7: "histogram_samples", 8: "float_histogram_samples",
}


def _crc_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


CRC_TABLE = _crc_table()


def crc32c(data):
    c = 0xFFFFFFFF
    t = CRC_TABLE
    for b in data:
        c = t[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def uvarint(buf, i):
    x = 0
    s = 0
    while True:
        b = buf[i]
        i += 1
        x |= (b & 0x7F) << s
        if b < 0x80:
            return x, i
        s += 7


def varint(buf, i):
    ux, i = uvarint(buf, i)
    x = ux >> 1
    if ux & 1:
        x = ~x
    return x, i


def snappy_decode(src):
    n, i = uvarint(src, 0)
    out = bytearray()
    while i < len(src):
        tag = src[i]
        i += 1
        kind = tag & 3
        if kind == 0:
            ln = tag >> 2
            if ln >= 60:
                nb = ln - 59
                ln = int.from_bytes(src[i:i + nb], "little")
                i += nb
            ln += 1
            out += src[i:i + ln]
            i += ln
            continue
        if kind == 1:
            ln = 4 + ((tag >> 2) & 7)
            off = ((tag >> 5) << 8) | src[i]
            i += 1
        elif kind == 2:
            ln = (tag >> 2) + 1
            off = int.from_bytes(src[i:i + 2], "little")
            i += 2
        else:
            ln = (tag >> 2) + 1
            off = int.from_bytes(src[i:i + 4], "little")
            i += 4
        if off == 0 or off > len(out):
            raise ValueError("snappy: bad copy offset")
        start = len(out) - off
        for k in range(ln):  # may overlap; byte by byte
            out.append(out[start + k])
    if len(out) != n:
        raise ValueError(f"snappy: length {len(out)} != header {n}")
    return bytes(out)


def read_records(path):
    """Yield (record bytes, compressed flag) from one segment file; return tail info via stats."""
    data = open(path, "rb").read()
    stats = {"size": len(data), "page_aligned": len(data) % PAGE == 0, "torn_tail": False,
             "zero_len_fragments": 0, "records": 0, "compressed": 0}
    recs = []
    i = 0
    cur = None
    comp = False
    while i < len(data):
        page_left = PAGE - i % PAGE
        if page_left < HDR:
            if any(data[i:i + page_left]):
                raise ValueError(f"{path}: non-zero page tail at {i}")
            i += page_left
            continue
        typ = data[i] & 7
        if data[i] == 0:  # page term: zeros to the page boundary
            end = min(i + page_left, len(data))
            if any(data[i:end]):
                raise ValueError(f"{path}: non-zero byte in padded page at {i}")
            i = end
            continue
        if data[i] & 0xE0 or data[i] & 0x10:
            raise ValueError(f"{path}: unexpected header bits {data[i]:#x} at {i}")
        snappy = bool(data[i] & 0x08)
        if i + HDR > len(data):
            stats["torn_tail"] = True
            break
        ln, crc = struct.unpack(">HI", data[i + 1:i + HDR])
        if i + HDR + ln > len(data):
            stats["torn_tail"] = True
            break
        frag = data[i + HDR:i + HDR + ln]
        if crc32c(frag) != crc:
            raise ValueError(f"{path}: CRC mismatch at {i}")
        if ln == 0:
            stats["zero_len_fragments"] += 1
        i += HDR + ln
        if typ == 1:
            if cur is not None:
                raise ValueError(f"{path}: full fragment inside a record at {i}")
            recs.append((frag, snappy))
        elif typ == 2:
            if cur is not None:
                raise ValueError(f"{path}: first fragment inside a record at {i}")
            cur = bytearray(frag)
            comp = snappy
        elif typ in (3, 4):
            if cur is None:
                raise ValueError(f"{path}: middle/last fragment without first at {i}")
            cur += frag
            if typ == 4:
                recs.append((bytes(cur), comp))
                cur = None
        else:
            raise ValueError(f"{path}: bad fragment type {typ} at {i}")
    if cur is not None:
        stats["torn_tail"] = True
    for rec, snappy in recs:
        stats["records"] += 1
        if snappy:
            stats["compressed"] += 1
            rec = snappy_decode(rec)
        yield rec, stats
    if not recs:
        yield None, stats


def decode_labels(buf, i):
    n, i = uvarint(buf, i)
    out = []
    for _ in range(n):
        ln, i = uvarint(buf, i)
        name = buf[i:i + ln].decode("utf-8")
        i += ln
        lv, i = uvarint(buf, i)
        value = buf[i:i + lv].decode("utf-8")
        i += lv
        out.append((name, value))
    return out, i


def new_summary():
    return {"record_types": {}, "series": 0, "samples": 0, "stale_markers": 0, "nan_samples": 0,
            "exemplars": 0, "histograms": 0, "min_t": None, "max_t": None, "series_refs": set(),
            "sample_refs": set()}


def note_t(s, t):
    s["min_t"] = t if s["min_t"] is None else min(s["min_t"], t)
    s["max_t"] = t if s["max_t"] is None else max(s["max_t"], t)


def summarize_record(rec, s):
    typ = rec[0]
    name = REC_NAMES.get(typ, f"unknown_{typ}")
    s["record_types"][name] = s["record_types"].get(name, 0) + 1
    if typ == 1:
        i = 1
        while i < len(rec):
            ref = struct.unpack(">Q", rec[i:i + 8])[0]
            _, i = decode_labels(rec, i + 8)
            s["series"] += 1
            s["series_refs"].add(ref)
    elif typ == 2 and len(rec) > 1:
        base_ref, base_t = struct.unpack(">Qq", rec[1:17])
        i = 17
        while i < len(rec):
            dref, i = varint(rec, i)
            dt, i = varint(rec, i)
            bits = struct.unpack(">Q", rec[i:i + 8])[0]
            i += 8
            s["samples"] += 1
            s["sample_refs"].add(base_ref + dref)
            note_t(s, base_t + dt)
            if bits == STALE_NAN_BITS:
                s["stale_markers"] += 1
            elif (bits >> 52) & 0x7FF == 0x7FF and bits & ((1 << 52) - 1):
                s["nan_samples"] += 1
    elif typ == 4 and len(rec) > 1:
        i = 17
        while i < len(rec):
            _, i = varint(rec, i)
            _, i = varint(rec, i)
            i += 8
            _, i = decode_labels(rec, i)
            s["exemplars"] += 1
    elif typ in (7, 8):
        s["histograms"] += 1  # records, not samples: bodies are not decoded here


def list_numeric(d):
    return sorted(int(n) for n in os.listdir(d) if n.isdigit())


def describe(wal_dir):
    report = {"checkpoints": [], "segments": []}
    cps = sorted(n for n in os.listdir(wal_dir)
                 if n.startswith("checkpoint.") and n[len("checkpoint."):].isdigit())
    for cp in cps:
        d = os.path.join(wal_dir, cp)
        s = new_summary()
        segs = []
        for n in list_numeric(d):
            for rec, st in read_records(os.path.join(d, f"{n:08d}")):
                if rec is not None:
                    summarize_record(rec, s)
            segs.append({"name": f"{n:08d}", **{k: st[k] for k in ("size", "page_aligned",
                                                                    "torn_tail", "records",
                                                                    "compressed")}})
        report["checkpoints"].append({"name": cp, "segments": segs, **finish(s)})
    nums = list_numeric(wal_dir)
    if nums and nums != list(range(nums[0], nums[-1] + 1)):
        raise ValueError(f"segments are not sequential: {nums}")
    for n in nums:
        s = new_summary()
        st = None
        for rec, st in read_records(os.path.join(wal_dir, f"{n:08d}")):
            if rec is not None:
                summarize_record(rec, s)
        entry = {"name": f"{n:08d}", **{k: st[k] for k in ("size", "page_aligned", "torn_tail",
                                                            "zero_len_fragments", "records",
                                                            "compressed")}}
        entry.update(finish(s))
        report["segments"].append(entry)
    return report


def finish(s):
    out = {k: v for k, v in s.items() if k not in ("series_refs", "sample_refs")}
    out["distinct_sample_refs"] = len(s["sample_refs"])
    out["series_refs"] = len(s["series_refs"])
    return out


NAN_BITS = 0x7FF8000000000001


def go_quote(raw):
    """Go strconv.Quote of a byte string (invalid UTF-8 bytes become \\xHH)."""
    out = ['"']
    text = raw.decode("utf-8", "surrogateescape")
    for ch in text:
        o = ord(ch)
        if 0xDC80 <= o <= 0xDCFF:  # an invalid byte smuggled through surrogateescape
            out.append(f"\\x{o - 0xDC00:02x}")
        elif ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch == " " or (o >= 0x20 and o != 0x7F and unicodedata.category(ch)[0] in "LMNPS"):
            out.append(ch)
        elif ch in "\a\b\f\n\r\t\v":
            out.append({"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
                        "\t": "\\t", "\v": "\\v"}[ch])
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        elif o < 0x10000:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    out.append('"')
    return "".join(out)


def labels_text(pairs):
    return "{" + ", ".join(f"{n.decode()}={go_quote(v)}" for n, v in pairs) + "}"


def rust_float(bits):
    """A float as `ringwrite wal inspect --dump` prints it (src/cli/format.rs): shortest
    round-trip digits, Rust `{:e}` form when |v| is outside [1e-5, 1e16), else Rust `{}`
    positional form; `+Inf`, `-Inf`, `StaleNaN`, `NaN`, `NaN(0x<16 hex>)`."""
    if (bits >> 52) & 0x7FF == 0x7FF:
        frac = bits & ((1 << 52) - 1)
        if frac == 0:
            return "-Inf" if bits >> 63 else "+Inf"
        if bits == STALE_NAN_BITS:
            return "StaleNaN"
        if bits == NAN_BITS:
            return "NaN"
        return f"NaN(0x{bits:016x})"
    v = struct.unpack(">d", struct.pack(">Q", bits))[0]
    if v != 0 and not 1e-5 <= abs(v) < 1e16:
        sign, digits, exp = Decimal(repr(v)).as_tuple()  # repr: shortest round-trip digits
        digits = "".join(map(str, digits)).rstrip("0") or "0"
        exp10 = exp + len("".join(map(str, Decimal(repr(v)).as_tuple()[1]))) - 1
        mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{'-' if sign else ''}{mant}e{exp10}"
    text = format(Decimal(repr(v)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if bits >> 63 and not text.startswith("-"):
        text = "-" + text  # -0.0
    return text


def raw_labels(buf, i):
    n, i = uvarint(buf, i)
    out = []
    for _ in range(n):
        ln, i = uvarint(buf, i)
        name = bytes(buf[i:i + ln])
        i += ln
        lv, i = uvarint(buf, i)
        out.append((name, bytes(buf[i:i + lv])))
        i += lv
    return out, i


def dump_record(rec, series, w, samples=True):
    typ = rec[0]
    if typ != 1 and not samples:
        return
    if typ == 1:
        i = 1
        while i < len(rec):
            ref = struct.unpack(">Q", rec[i:i + 8])[0]
            lbls, i = raw_labels(rec, i + 8)
            series[ref] = labels_text(lbls)
    elif typ == 2 and len(rec) > 1:
        base_ref, base_t = struct.unpack(">Qq", rec[1:17])
        i = 17
        while i < len(rec):
            dref, i = varint(rec, i)
            dt, i = varint(rec, i)
            bits = struct.unpack(">Q", rec[i:i + 8])[0]
            i += 8
            w(f"{series[base_ref + dref]} {rust_float(bits)} {base_t + dt}\n")
    elif typ == 4 and len(rec) > 1:
        base_ref, base_t = struct.unpack(">Qq", rec[1:17])
        i = 17
        while i < len(rec):
            dref, i = varint(rec, i)
            dt, i = varint(rec, i)
            bits = struct.unpack(">Q", rec[i:i + 8])[0]
            elbls, i = raw_labels(rec, i + 8)
            w(f"{series[base_ref + dref]} exemplar {labels_text(elbls)} {rust_float(bits)} "
              f"{base_t + dt}\n")


def dump(wal_dir, w, checkpoint_samples=True):
    series = {}
    files = []
    cps = sorted(n for n in os.listdir(wal_dir)
                 if n.startswith("checkpoint.") and n[len("checkpoint."):].isdigit())
    if cps:
        d = os.path.join(wal_dir, cps[-1])
        files += [(os.path.join(d, f"{n:08d}"), checkpoint_samples) for n in list_numeric(d)]
        first = int(cps[-1][len("checkpoint."):])
    else:
        first = -1
    files += [(os.path.join(wal_dir, f"{n:08d}"), True) for n in list_numeric(wal_dir) if n > first]
    for f, samples in files:
        for rec, _ in read_records(f):
            if rec is not None:
                dump_record(rec, series, w, samples)


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    wal_dir = argv[1]
    if "--dump" in argv:
        dump(wal_dir, sys.stdout.write, "--skip-checkpoint-samples" not in argv)
        return 0
    report = describe(wal_dir)
    if "--json" in argv:
        print(json.dumps(report, indent=1))
    else:
        for cp in report["checkpoints"]:
            print(f"{cp['name']}/: {len(cp['segments'])} segment(s) "
                  f"{[x['name'] + ':' + str(x['size']) for x in cp['segments']]} "
                  f"records={cp['record_types']} series={cp['series']} samples={cp['samples']} "
                  f"stale={cp['stale_markers']} exemplars={cp['exemplars']} "
                  f"t=[{cp['min_t']},{cp['max_t']}]")
        for sg in report["segments"]:
            print(f"{sg['name']}: size={sg['size']} page_aligned={sg['page_aligned']} "
                  f"torn_tail={sg['torn_tail']} records={sg['records']} "
                  f"snappy={sg['compressed']} types={sg['record_types']} series={sg['series']} "
                  f"samples={sg['samples']} stale={sg['stale_markers']} nan={sg['nan_samples']} "
                  f"exemplars={sg['exemplars']} t=[{sg['min_t']},{sg['max_t']}]")
    if "--check-checkpoint-boundary" in argv:
        if len(report["checkpoints"]) != 1:
            print(f"FAIL: expected exactly one checkpoint, found {len(report['checkpoints'])}",
                  file=sys.stderr)
            return 1
        cp_max = report["checkpoints"][0]["max_t"]
        seg_min = min(sg["min_t"] for sg in report["segments"] if sg["min_t"] is not None)
        if cp_max is not None and cp_max >= seg_min:
            print(f"FAIL: checkpoint max_t {cp_max} >= earliest segment sample {seg_min}",
                  file=sys.stderr)
            return 1
        print(f"checkpoint boundary ok: checkpoint max_t {cp_max} < segments min_t {seg_min}")
    for sg in report["segments"][:-1]:
        if sg["torn_tail"]:
            print(f"note: segment {sg['name']} ends with a torn record", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
