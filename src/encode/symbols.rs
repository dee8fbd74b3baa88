//! String interning for RW 2.0 symbol tables.
//!
//! [`SymbolInterner`] gives every distinct label name/value (and metadata help/unit text)
//! one global `u32` id, once, when a series is added to the cache. Per request,
//! [`RequestSymbols`] maps global ids to the request's own dense symbol indices through a
//! generation-stamped `Vec`, so building a request's symbol table costs one array lookup
//! per label reference and never hashes a string (FORMATS.md §4.2).
//!
//! Fixed name slots: the first [`MAX_NAME_SLOTS`] distinct label names the interner sees
//! get a slot `1..=64`. A request that uses slots lists those names first, at symbol
//! indices equal to their slots, in every request, so a series can carry its name refs
//! pre-encoded (one byte each) and only its values are resolved per request. The price
//! is that a request lists every slotted name, used or not (the encoder only does this
//! for requests large enough that the extra bytes do not matter).

use std::hash::BuildHasher;

use super::wire::encode_varint;
use super::EncodeError;

/// The hash of interned strings: foldhash's quality variant, seeded randomly per
/// process (and per table), so colliding label values cannot be prepared in advance.
/// Not cryptographic, unlike std's SipHash, which cost ~5 % of the WAL reader's CPU
/// (one hash per label name and value of every new series).
type RandomState = foldhash::quality::RandomState;

/// Global id of an interned string. Id 0 is always the empty string.
#[repr(transparent)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SymbolId(pub u32);

impl SymbolId {
    /// The empty string, pre-interned by [`SymbolInterner::new`].
    pub const EMPTY: SymbolId = SymbolId(0);
}

/// Slot value meaning "free" in [`IdTable`].
const FREE: u32 = u32::MAX;

/// Most strings an interner holds; ids stay below [`LOCAL_BIT`] so a request can tell
/// them apart from its request-local strings.
pub const MAX_SYMBOLS: usize = 1 << 31;

/// Most label names that get a fixed request symbol index (see the module docs). 64
/// keeps the names' refs one byte long and leaves 63 more one-byte indices per request.
pub const MAX_NAME_SLOTS: usize = 64;

/// Open-addressing hash index from string to id. The strings and their hashes live in the
/// owner; the table only stores ids, so it never allocates per string.
#[derive(Debug, Clone)]
struct IdTable {
    slots: Vec<u32>,
    len: usize,
}

impl IdTable {
    fn new() -> IdTable {
        IdTable {
            slots: vec![FREE; 16],
            len: 0,
        }
    }

    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    /// Finds the id whose stored hash is `hash` and for which `eq(id)` holds.
    fn find(&self, hash: u64, hashes: &[u64], eq: impl Fn(u32) -> bool) -> Option<u32> {
        let mask = self.mask();
        let mut i = hash as usize & mask;
        loop {
            let id = self.slots[i];
            if id == FREE {
                return None;
            }
            if hashes[id as usize] == hash && eq(id) {
                return Some(id);
            }
            i = (i + 1) & mask;
        }
    }

    /// Adds `id` (not present yet). Grows at 50 % load, re-using the owner's stored hashes.
    fn insert(&mut self, id: u32, hashes: &[u64]) {
        if (self.len + 1) * 2 > self.slots.len() {
            let mut bigger = vec![FREE; self.slots.len() * 2];
            let mask = bigger.len() - 1;
            for &old in self.slots.iter().filter(|&&s| s != FREE) {
                Self::place(&mut bigger, mask, hashes[old as usize], old);
            }
            self.slots = bigger;
        }
        let mask = self.mask();
        Self::place(&mut self.slots, mask, hashes[id as usize], id);
        self.len += 1;
    }

    fn place(slots: &mut [u32], mask: usize, hash: u64, id: u32) {
        let mut i = hash as usize & mask;
        while slots[i] != FREE {
            i = (i + 1) & mask;
        }
        slots[i] = id;
    }

    /// Forgets every entry, keeping the allocation.
    fn clear(&mut self) {
        if self.len > 0 {
            self.slots.fill(FREE);
            self.len = 0;
        }
    }
}

/// Strings packed end to end in one buffer, addressed by index.
#[derive(Debug, Clone)]
struct StringArena {
    bytes: Vec<u8>,
    /// `ends[i]` is one past the last byte of string `i`.
    ends: Vec<usize>,
    /// Hash of each string, kept so the index can grow without re-hashing.
    hashes: Vec<u64>,
}

impl StringArena {
    fn new() -> StringArena {
        StringArena {
            bytes: Vec::new(),
            ends: Vec::new(),
            hashes: Vec::new(),
        }
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    fn get(&self, i: usize) -> Option<&[u8]> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        Some(&self.bytes[start..end])
    }

    fn push(&mut self, s: &[u8], hash: u64) {
        self.bytes.extend_from_slice(s);
        self.ends.push(self.bytes.len());
        self.hashes.push(hash);
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
        self.hashes.clear();
    }
}

/// A table of distinct strings with stable `u32` ids, shared by every series of the
/// cache (label names and values, metadata help and unit).
///
/// Ids are dense and never reused, so a per-request remap table can be a plain `Vec`
/// indexed by id. Strings are never removed: when the set of live series changes a lot
/// (churn), the series cache rebuilds the interner together with its entries.
#[derive(Debug, Clone)]
pub struct SymbolInterner {
    strings: StringArena,
    index: IdTable,
    hasher: RandomState,
    /// Per string: its name slot, or 0 for none.
    slot_of: Vec<u8>,
    /// The string of slot `i + 1`.
    name_slots: Vec<SymbolId>,
    /// Symbols-table bytes of the slotted names (keys and lengths included).
    slot_bytes: usize,
}

impl Default for SymbolInterner {
    fn default() -> Self {
        Self::new()
    }
}

impl SymbolInterner {
    /// An interner holding only `""` as [`SymbolId::EMPTY`].
    pub fn new() -> SymbolInterner {
        let mut interner = SymbolInterner {
            strings: StringArena::new(),
            index: IdTable::new(),
            hasher: RandomState::default(),
            slot_of: Vec::new(),
            name_slots: Vec::new(),
            slot_bytes: 0,
        };
        let hash = interner.hasher.hash_one(b"".as_slice());
        interner.strings.push(b"", hash);
        interner.slot_of.push(0);
        interner.index.insert(0, &interner.strings.hashes);
        interner
    }

    /// [`SymbolInterner::intern`] for a label name: also returns the name's slot (see the
    /// module docs), assigning the next free one if the name has none; 0 when the slots
    /// are used up (or for `""`, which is always index 0).
    pub fn intern_name(&mut self, s: &[u8]) -> Result<(SymbolId, u8), EncodeError> {
        let id = self.intern(s)?;
        let slot = self.slot_of[id.0 as usize];
        if slot != 0 || id == SymbolId::EMPTY || self.name_slots.len() >= MAX_NAME_SLOTS {
            return Ok((id, slot));
        }
        self.name_slots.push(id);
        // INVARIANT: at most MAX_NAME_SLOTS (64) slots, so the count fits a u8.
        let slot = self.name_slots.len() as u8;
        self.slot_of[id.0 as usize] = slot;
        self.slot_bytes += super::wire::len_field_size(s.len());
        Ok((id, slot))
    }

    /// The slotted names, slot 1 first.
    pub(crate) fn name_slots(&self) -> &[SymbolId] {
        &self.name_slots
    }

    /// Symbols-table bytes a request spends on listing every slotted name.
    pub(crate) fn name_slot_bytes(&self) -> usize {
        self.slot_bytes
    }

    /// The id of `s`, adding it if it is new.
    pub fn intern(&mut self, s: &[u8]) -> Result<SymbolId, EncodeError> {
        let hash = self.hasher.hash_one(s);
        if let Some(id) = self.find_hashed(s, hash) {
            return Ok(id);
        }
        let id = u32::try_from(self.strings.len())
            .ok()
            .filter(|&id| (id as usize) < MAX_SYMBOLS)
            .ok_or(EncodeError::TooManySymbols { limit: MAX_SYMBOLS })?;
        self.strings.push(s, hash);
        self.slot_of.push(0);
        self.index.insert(id, &self.strings.hashes);
        Ok(SymbolId(id))
    }

    /// The id of `s` if it was interned before. Does not add it.
    pub fn find(&self, s: &[u8]) -> Option<SymbolId> {
        self.find_hashed(s, self.hasher.hash_one(s))
    }

    /// The string with id `id`.
    pub fn get(&self, id: SymbolId) -> Option<&[u8]> {
        self.strings.get(id.0 as usize)
    }

    /// Number of interned strings, including `""`.
    pub fn len(&self) -> usize {
        self.strings.len()
    }

    /// Never true: `""` is always present.
    pub fn is_empty(&self) -> bool {
        self.strings.len() == 0
    }

    fn find_hashed(&self, s: &[u8], hash: u64) -> Option<SymbolId> {
        self.index
            .find(hash, &self.strings.hashes, |id| {
                self.strings.get(id as usize) == Some(s)
            })
            .map(SymbolId)
    }
}

/// Bit set on [`RequestSymbols`] order entries that name a request-local string rather
/// than a global [`SymbolId`].
const LOCAL_BIT: u32 = 1 << 31;

/// Most distinct strings one request may hold. Request indices stay below 2^21 so that
/// their varint (at most 3 bytes) can be stored pre-encoded in the remap table and
/// copied with one 4-byte store per label reference. A request would need several
/// megabytes of symbols to come near this.
pub const MAX_REQUEST_SYMBOLS: usize = 1 << 21;

/// A request index stored as its varint bytes (low three bytes, in wire order) and
/// their count (top byte).
#[inline]
fn pack(index: u32) -> u32 {
    debug_assert!((index as usize) < MAX_REQUEST_SYMBOLS);
    let mut bytes = [0u8; 4];
    let len = encode_varint(&mut bytes, u64::from(index));
    u32::from_le_bytes(bytes) | ((len as u32) << 24)
}

/// The index [`pack`]ed into `packed`.
#[inline]
fn unpack(packed: u32) -> u32 {
    let len = packed >> 24;
    let mut index = packed & 0x7f;
    if len > 1 {
        index |= ((packed >> 8) & 0x7f) << 7;
    }
    if len > 2 {
        index |= ((packed >> 16) & 0x7f) << 14;
    }
    index
}

/// Writes a label's name ref (a one-byte slot) and its value's [`pack`]ed ref with one
/// 4-byte store and returns how many of the bytes count; the rest are scratch.
///
/// # Safety
/// `dst` must be valid for writes of 4 bytes.
#[inline(always)]
unsafe fn put_label_ref(dst: *mut u8, slot: u8, packed: u32) -> usize {
    // SAFETY: the caller guarantees 4 writable bytes; no alignment is required.
    unsafe {
        dst.cast::<u32>()
            .write_unaligned(((packed << 8) | u32::from(slot)).to_le())
    };
    1 + (packed >> 24) as usize
}

/// One request's symbol table under construction: `""` at index 0, then every string in
/// first-use order, each exactly once.
///
/// Global ids are remapped through `remap[id] = (generation, packed index)`; starting a
/// new request only bumps the generation, so nothing is cleared per request. Strings that
/// are not in the interner (exemplar labels, which are unbounded such as trace ids) go
/// to a small per-request table that is hashed; they are rare.
#[derive(Debug)]
pub(crate) struct RequestSymbols {
    remap: Vec<(u32, u32)>,
    generation: u32,
    /// Indices `1..=fixed` hold the interner's slotted names in this request.
    fixed: usize,
    /// A global id seen in this request that the interner does not have.
    unknown: Option<u32>,
    /// More than [`MAX_REQUEST_SYMBOLS`] strings were used.
    overflow: bool,
    /// Symbol index 1.. in order: a global id, or `LOCAL_BIT | i` for `locals` string i.
    order: Vec<u32>,
    locals: StringArena,
    /// Symbol index of each local string.
    local_positions: Vec<u32>,
    local_index: IdTable,
    hasher: RandomState,
}

impl RequestSymbols {
    pub(crate) fn new() -> RequestSymbols {
        RequestSymbols {
            remap: Vec::new(),
            generation: 1,
            fixed: 0,
            unknown: None,
            overflow: false,
            order: Vec::new(),
            locals: StringArena::new(),
            local_positions: Vec::new(),
            local_index: IdTable::new(),
            hasher: RandomState::default(),
        }
    }

    /// Starts an empty table for series built with an interner of `interner_len`
    /// strings. The remap table is sized here, once, so resolving needs no growth check.
    /// `slots` (the interner's slotted names, or none) take indices `1..=slots.len()`.
    pub(crate) fn reset(&mut self, interner_len: usize, slots: &[SymbolId]) {
        self.order.clear();
        self.unknown = None;
        self.overflow = false;
        if !self.locals.ends.is_empty() {
            self.locals.clear();
            self.local_positions.clear();
            self.local_index.clear();
        }
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            // After 2^32 requests the stamps could collide: start over once.
            self.remap.fill((0, 0));
            self.generation = 1;
        }
        if self.remap.len() < interner_len.max(1) {
            self.remap.resize(interner_len.max(1), (0, 0));
        }
        // "" is always index 0.
        self.remap[0] = (self.generation, pack(0));
        self.fixed = 0;
        for &id in slots {
            if self.remap.get(id.0 as usize).is_none() {
                // Slots of another interner: leave the rest to `resolve`, which reports it.
                break;
            }
            self.first_use(id);
            self.fixed += 1;
        }
    }

    /// How many slotted names this request lists at indices `1..=fixed`.
    #[inline]
    pub(crate) fn fixed(&self) -> usize {
        self.fixed
    }

    /// Number of symbols so far, including `""`.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.order.len() + 1
    }

    /// The request index of global symbol `id`, assigning the next one on first use.
    /// An id the interner never issued resolves to 0 and makes `for_each` fail.
    #[inline]
    pub(crate) fn resolve(&mut self, id: SymbolId) -> u32 {
        unpack(self.resolve_packed(id))
    }

    #[inline(always)]
    fn resolve_packed(&mut self, id: SymbolId) -> u32 {
        match self.remap.get(id.0 as usize) {
            Some(&(generation, packed)) if generation == self.generation => packed,
            _ => self.first_use(id),
        }
    }

    /// [`RequestSymbols::resolve_packed`] for an id not seen yet in this request. Kept
    /// out of line so the common path stays a load and a compare.
    #[inline(never)]
    fn first_use(&mut self, id: SymbolId) -> u32 {
        if id.0 as usize >= self.remap.len() {
            self.unknown = Some(id.0);
            return pack(0);
        }
        let Some(index) = self.next_index() else {
            return pack(0);
        };
        let packed = pack(index);
        self.remap[id.0 as usize] = (self.generation, packed);
        self.order.push(id.0);
        packed
    }

    /// The index the next new string gets, unless the request is full.
    fn next_index(&mut self) -> Option<u32> {
        let index = self.order.len() + 1;
        if index >= MAX_REQUEST_SYMBOLS {
            self.overflow = true;
            return None;
        }
        Some(index as u32)
    }

    /// Appends the varint request indices of `ids` to `buf`: the RW 2.0 `labels_refs`
    /// payload of a series, resolved and written in one pass with one 4-byte store per
    /// reference (this runs ~20 times per sample).
    #[inline]
    pub(crate) fn write_refs(&mut self, buf: &mut Vec<u8>, ids: &[SymbolId]) {
        let max = 4 * ids.len();
        buf.reserve(max);
        let start = buf.len();
        let base = buf.spare_capacity_mut().as_mut_ptr().cast::<u8>();
        let mut n = 0;
        let mut i = 0;
        while i < ids.len() {
            // Hits only: the table, its length and the generation stay in registers.
            let (remap, generation) = (&self.remap[..], self.generation);
            let mut packed = None;
            while let Some(&id) = ids.get(i) {
                match remap.get(id.0 as usize) {
                    Some(&(g, p)) if g == generation => {
                        // SAFETY: `max` bytes are reserved after `start`. Reference i
                        // starts at n <= 3 * i and stores 4 bytes, ending at or below
                        // 3 * i + 4 <= max. The byte after the varint is scratch.
                        unsafe { base.add(n).cast::<u32>().write_unaligned(p.to_le()) };
                        n += (p >> 24) as usize;
                        i += 1;
                    }
                    _ => {
                        packed = Some(self.first_use(id));
                        break;
                    }
                }
            }
            if let Some(p) = packed {
                // SAFETY: as above, for reference i.
                unsafe { base.add(n).cast::<u32>().write_unaligned(p.to_le()) };
                n += (p >> 24) as usize;
                i += 1;
            }
        }
        // SAFETY: exactly the `n` bytes after `start` were initialised, and n <= max.
        unsafe { buf.set_len(start + n) };
    }

    /// Writes the RW 2.0 `labels_refs` payload of a series whose label names all have
    /// slots `<= fixed()` to `dst` and returns its length: `slots[i]` is the pre-encoded
    /// ref of name i and `ids[2 i + 1]` the global id of value i. Only the values are
    /// looked up; each label is one 4-byte store (name byte, then up to 3 value bytes).
    ///
    /// # Safety
    /// `dst` must be valid for writes of `4 * slots.len()` bytes.
    #[inline(always)]
    pub(crate) unsafe fn write_slotted_refs(
        &mut self,
        dst: *mut u8,
        slots: &[u8],
        ids: &[SymbolId],
    ) -> usize {
        debug_assert!(slots
            .iter()
            .all(|&s| s != 0 && usize::from(s) <= self.fixed));
        let labels = slots.len().min(ids.len() / 2);
        let (slots, values) = (slots.as_ptr(), ids.as_ptr().cast::<u32>());
        let mut n = 0;
        let mut i = 0;
        while i < labels {
            // Hits only: the table, its length and the generation stay in registers.
            let (remap, len, generation) = (self.remap.as_ptr(), self.remap.len(), self.generation);
            while i < labels {
                // SAFETY: i < labels <= ids.len() / 2, so 2 i + 1 < ids.len() and
                // i < slots.len(); `SymbolId` is a transparent u32.
                let (id, slot) = unsafe { (*values.add(2 * i + 1) as usize, *slots.add(i)) };
                if id >= len {
                    break;
                }
                // SAFETY: id < remap.len().
                let (g, p) = unsafe { *remap.add(id) };
                if g != generation {
                    break;
                }
                // SAFETY: label i starts at n <= 4 * i, so its 4 bytes end at or below
                // 4 * (i + 1), within the caller's 4 * slots.len().
                n += unsafe { put_label_ref(dst.add(n), slot, p) };
                i += 1;
            }
            if i < labels {
                // SAFETY: as above.
                let (id, slot) = unsafe { (*values.add(2 * i + 1), *slots.add(i)) };
                let p = self.first_use(SymbolId(id));
                // SAFETY: as above, for label i.
                n += unsafe { put_label_ref(dst.add(n), slot, p) };
                i += 1;
            }
        }
        n
    }

    /// The request index of an arbitrary string: through the interner when it knows the
    /// string (so it is never listed twice), otherwise through the per-request table.
    pub(crate) fn resolve_str(&mut self, interner: &SymbolInterner, s: &[u8]) -> u32 {
        if s.is_empty() {
            return 0;
        }
        if let Some(id) = interner.find(s) {
            return self.resolve(id);
        }
        let hash = self.hasher.hash_one(s);
        let locals = &self.locals;
        if let Some(i) = self
            .local_index
            .find(hash, &locals.hashes, |i| locals.get(i as usize) == Some(s))
        {
            return self.local_positions[i as usize];
        }
        let Some(position) = self.next_index() else {
            return 0;
        };
        let i = self.locals.len() as u32;
        self.locals.push(s, hash);
        self.local_index.insert(i, &self.locals.hashes);
        self.order.push(LOCAL_BIT | i);
        self.local_positions.push(position);
        position
    }

    /// Calls `f` with every symbol after `""`, in index order.
    pub(crate) fn for_each(
        &self,
        interner: &SymbolInterner,
        mut f: impl FnMut(&[u8]),
    ) -> Result<(), EncodeError> {
        if let Some(id) = self.unknown {
            return Err(EncodeError::UnknownSymbol { id });
        }
        if self.overflow {
            return Err(EncodeError::TooManyRequestSymbols {
                limit: MAX_REQUEST_SYMBOLS,
            });
        }
        for &e in &self.order {
            let s = if e & LOCAL_BIT != 0 {
                self.locals.get((e & !LOCAL_BIT) as usize)
            } else {
                interner.get(SymbolId(e))
            };
            f(s.ok_or(EncodeError::UnknownSymbol { id: e })?);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interner_starts_with_empty_string() {
        let i = SymbolInterner::new();
        assert_eq!(i.len(), 1);
        assert_eq!(i.get(SymbolId::EMPTY), Some(&b""[..]));
        assert_eq!(i.find(b""), Some(SymbolId::EMPTY));
    }

    #[test]
    fn interner_dedupes_and_survives_growth() {
        let mut i = SymbolInterner::new();
        let ids: Vec<SymbolId> = (0..1000)
            .map(|n| i.intern(format!("s{n}").as_bytes()).unwrap())
            .collect();
        assert_eq!(i.len(), 1001);
        for (n, id) in ids.iter().enumerate() {
            let s = format!("s{n}");
            assert_eq!(i.intern(s.as_bytes()).unwrap(), *id);
            assert_eq!(i.find(s.as_bytes()), Some(*id));
            assert_eq!(i.get(*id), Some(s.as_bytes()));
        }
        assert_eq!(i.find(b"absent"), None);
        assert_eq!(i.len(), 1001);
    }

    #[test]
    fn request_symbols_first_use_order_and_generations() {
        let mut interner = SymbolInterner::new();
        let a = interner.intern(b"a").unwrap();
        let b = interner.intern(b"b").unwrap();
        let mut r = RequestSymbols::new();
        r.reset(interner.len(), &[]);
        assert_eq!(r.resolve(b), 1);
        assert_eq!(r.resolve(a), 2);
        assert_eq!(r.resolve(b), 1);
        assert_eq!(r.resolve(SymbolId::EMPTY), 0);
        assert_eq!(
            r.resolve_str(&interner, b"a"),
            2,
            "known string goes through the interner"
        );
        assert_eq!(r.resolve_str(&interner, b"trace"), 3);
        assert_eq!(r.resolve_str(&interner, b"trace"), 3);
        assert_eq!(r.resolve_str(&interner, b""), 0);
        let mut seen = Vec::new();
        r.for_each(&interner, |s| seen.push(s.to_vec())).unwrap();
        assert_eq!(seen, vec![b"b".to_vec(), b"a".to_vec(), b"trace".to_vec()]);

        r.reset(interner.len(), &[]);
        assert_eq!(r.len(), 1);
        assert_eq!(r.resolve(a), 1, "a new generation forgets the old mapping");
        assert_eq!(r.resolve_str(&interner, b"trace"), 2);
    }

    #[test]
    fn request_symbols_generation_wrap_resets_stamps() {
        let mut interner = SymbolInterner::new();
        let a = interner.intern(b"a").unwrap();
        let mut r = RequestSymbols::new();
        r.reset(interner.len(), &[]);
        r.generation = u32::MAX;
        assert_eq!(r.resolve(a), 1);
        r.reset(interner.len(), &[]);
        assert_eq!(r.generation, 1);
        assert_eq!(r.resolve(SymbolId::EMPTY), 0);
        assert_eq!(r.resolve(a), 1);
        assert_eq!(r.len(), 2);
    }

    #[test]
    fn pack_unpack_table() {
        // (index, varint bytes)
        let cases: &[(u32, &[u8])] = &[
            (0, &[0]),
            (1, &[1]),
            (127, &[0x7f]),
            (128, &[0x80, 0x01]),
            (16_383, &[0xff, 0x7f]),
            (16_384, &[0x80, 0x80, 0x01]),
            ((1 << 21) - 1, &[0xff, 0xff, 0x7f]),
        ];
        for &(index, bytes) in cases {
            let p = pack(index);
            assert_eq!((p >> 24) as usize, bytes.len(), "length of {index}");
            assert_eq!(&p.to_le_bytes()[..bytes.len()], bytes, "bytes of {index}");
            assert_eq!(unpack(p), index);
        }
    }

    #[test]
    fn write_refs_matches_resolve() {
        let mut interner = SymbolInterner::new();
        let ids: Vec<SymbolId> = (0..300)
            .map(|i| interner.intern(format!("v{i}").as_bytes()).unwrap())
            .collect();
        let mut r = RequestSymbols::new();
        r.reset(interner.len(), &[]);
        let mut buf = vec![9u8];
        r.write_refs(&mut buf, &ids);
        r.write_refs(&mut buf, &ids[..3]);
        let mut want = vec![9u8];
        for id in ids.iter().chain(&ids[..3]) {
            prost::encoding::encode_varint(u64::from(r.resolve(*id)), &mut want);
        }
        assert_eq!(buf, want);
        assert_eq!(r.resolve(ids[299]), 300);
    }

    #[test]
    fn too_many_symbols_in_one_request_is_an_error() {
        let mut interner = SymbolInterner::new();
        let a = interner.intern(b"a").unwrap();
        let mut r = RequestSymbols::new();
        r.reset(interner.len(), &[]);
        r.order.resize(MAX_REQUEST_SYMBOLS - 1, 0);
        assert_eq!(r.resolve(a), 0);
        let err = r.for_each(&interner, |_| {}).unwrap_err();
        assert!(
            matches!(err, EncodeError::TooManyRequestSymbols { .. }),
            "{err}"
        );
    }

    #[test]
    fn unknown_global_id_is_an_error() {
        let interner = SymbolInterner::new();
        let mut r = RequestSymbols::new();
        r.reset(interner.len(), &[]);
        assert_eq!(r.resolve(SymbolId(7)), 0);
        let err = r.for_each(&interner, |_| {}).unwrap_err();
        assert!(matches!(err, EncodeError::UnknownSymbol { id: 7 }), "{err}");
    }

    #[test]
    fn name_slots_go_to_the_first_names_only() {
        let mut i = SymbolInterner::new();
        let (empty, slot) = i.intern_name(b"").unwrap();
        assert_eq!(
            (empty, slot),
            (SymbolId::EMPTY, 0),
            "\"\" is index 0, never a slot"
        );
        let value = i.intern(b"job").unwrap();
        let (job, slot) = i.intern_name(b"job").unwrap();
        assert_eq!(
            (job, slot),
            (value, 1),
            "a value later used as a name gets a slot"
        );
        assert_eq!(i.intern_name(b"job").unwrap(), (job, 1), "slots are stable");
        for n in 0..MAX_NAME_SLOTS + 5 {
            let (_, slot) = i.intern_name(format!("n{n}").as_bytes()).unwrap();
            let want = if n + 2 <= MAX_NAME_SLOTS {
                n as u8 + 2
            } else {
                0
            };
            assert_eq!(slot, want, "name n{n}");
        }
        assert_eq!(i.name_slots().len(), MAX_NAME_SLOTS);
        assert_eq!(i.name_slots()[0], job);
        let bytes: usize = i
            .name_slots()
            .iter()
            .map(|&id| super::super::wire::len_field_size(i.get(id).unwrap().len()))
            .sum();
        assert_eq!(i.name_slot_bytes(), bytes);
    }

    #[test]
    fn slotted_names_take_the_first_indices_and_refs_match_lookups() {
        let mut interner = SymbolInterner::new();
        let mut pairs = Vec::new();
        for n in 0..4 {
            let (name, slot) = interner.intern_name(format!("name{n}").as_bytes()).unwrap();
            let value = interner.intern(format!("value{n}").as_bytes()).unwrap();
            pairs.push((name, slot, value));
        }
        // A value equal to a slotted name must reuse the name's index.
        let (name, slot) = interner.intern_name(b"zz").unwrap();
        pairs.push((name, slot, pairs[1].0));
        let slots: Vec<u8> = pairs.iter().map(|p| p.1).collect();
        let ids: Vec<SymbolId> = pairs.iter().flat_map(|p| [p.0, p.2]).collect();
        let mut r = RequestSymbols::new();
        r.reset(interner.len(), interner.name_slots());
        assert_eq!(r.fixed(), 5);
        assert_eq!(r.len(), 6, "\"\" and the five names");
        let mut fast = vec![0u8; 4 * slots.len()];
        // SAFETY: `fast` has 4 bytes per label.
        let n = unsafe { r.write_slotted_refs(fast.as_mut_ptr(), &slots, &ids) };
        fast.truncate(n);
        let mut looked_up = Vec::new();
        r.write_refs(&mut looked_up, &ids);
        assert_eq!(fast, looked_up);
        assert_eq!(
            &fast[..2],
            &[1, 6],
            "name0 at slot 1, value0 first new symbol"
        );
        assert_eq!(&fast[fast.len() - 2..], &[5, 2], "zz=name1");
        let mut seen = Vec::new();
        r.for_each(&interner, |s| {
            seen.push(String::from_utf8(s.to_vec()).unwrap())
        })
        .unwrap();
        assert_eq!(
            seen,
            ["name0", "name1", "name2", "name3", "zz", "value0", "value1", "value2", "value3"]
        );

        // Without slots the names are looked up like any other string.
        r.reset(interner.len(), &[]);
        assert_eq!(r.fixed(), 0);
        assert_eq!(r.resolve(pairs[3].0), 1);
    }
}
