//! Fuzz target `decode`: decoding arbitrary bytes never panics, and whatever decodes is a fixed
//! point: encode(decode(x)) == x, and decoding that again gives the same model.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(md) = ferry_metadata::decode(data) {
        let bytes = ferry_metadata::encode(&md).expect("a decoded model must encode");
        assert_eq!(bytes, data, "re-encoding differs from the input");
        let again = ferry_metadata::decode(&bytes).expect("re-encoded bytes must decode");
        assert_eq!(again, md, "decode(encode(decode(x))) differs");
        let _ = md.paths();
        let _ = md.summary();
        let _ = md.properties();
    }
});
