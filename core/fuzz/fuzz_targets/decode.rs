//! Fuzzes `rumor_core::wire::decode`: any byte string must give `Ok` or a typed error
//! without panicking, and whatever decodes must survive an encode/decode round trip.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rumor_core::wire::{decode, encode};

/// The node's default `limits.max_message_size`.
const MAX: usize = 16 * 1024;

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = decode(data, MAX) {
        let bytes = encode(&msg);
        // The canonical encoding is never longer than what decoded (postcard varints
        // are minimal when written), so it is also within the limit.
        assert!(bytes.len() <= data.len(), "re-encoding grew the message");
        let again = decode(&bytes, MAX).expect("a re-encoded message must decode");
        assert_eq!(again, msg, "round trip changed the message");
    }
});
