//! Placeholder: the record decoders land here.
