//! JSON documents as the store writes them: a resource's `data`, a change record's `before`
//! and `after`.
//!
//! PostgreSQL compresses a large text value itself (TOAST). SQLite does not: a user with a
//! thousand e-mail addresses is a 48 KB document, written three times by one update (the
//! resource, the change record's before and after), and every page of it goes through the
//! single writer's commit, where the other tenants' writes wait (issue 11). So on SQLite a
//! document longer than [`PACK_AT`] bytes is stored as a BLOB: [`MAGIC`] followed by the
//! LZ4 block of its text (with the text's length in front). Readers never see the
//! difference: the SQLite row's text getters unpack such a BLOB ([`unpack`]), and shorter
//! documents, or those that do not compress, stay text as before.
//!
//! A [`Document`] is packed at most once, and an update packs its documents before it
//! reaches the writer ([`Document::pack`]), so the writer only copies bytes.

use std::sync::{Arc, OnceLock};

use crate::StoreError;

/// Documents at least this long (bytes) are stored compressed on SQLite: shorter ones fit
/// in a table page as they are.
pub const PACK_AT: usize = 4096;
/// The first bytes of a packed document (never the start of JSON text).
pub const MAGIC: &[u8; 4] = b"\0lz4";
/// A packed document is kept only when it is at most this fraction of the text.
const WORTH_IT: f64 = 0.75;
/// The longest text a packed document may claim to hold (a damaged BLOB must not make a
/// reader allocate without bound): far above any document a request can produce (bodies are
/// at most a few MiB, multi-valued attributes bounded).
const MAX_TEXT: usize = 64 << 20;

/// A serialised JSON document about to be written (see the module documentation).
#[derive(Debug)]
pub struct Document {
    text: String,
    packed: OnceLock<Option<Vec<u8>>>,
}

impl Document {
    /// A document of `text` (serialised JSON).
    pub fn new(text: String) -> Arc<Document> {
        Arc::new(Document {
            text,
            packed: OnceLock::new(),
        })
    }

    /// The document's text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The packed form SQLite stores ([`MAGIC`], then the LZ4 block), or `None` when the
    /// text is short or does not compress well; computed on the first call.
    pub fn pack(&self) -> Option<&[u8]> {
        self.packed
            .get_or_init(|| {
                if self.text.len() < PACK_AT {
                    return None;
                }
                let block = lz4_flex::compress_prepend_size(self.text.as_bytes());
                let packed_len = MAGIC.len() + block.len();
                if packed_len as f64 > self.text.len() as f64 * WORTH_IT {
                    return None;
                }
                let mut out = Vec::with_capacity(packed_len);
                out.extend_from_slice(MAGIC);
                out.extend_from_slice(&block);
                Some(out)
            })
            .as_deref()
    }
}

impl PartialEq for Document {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

/// The text of a stored BLOB: `Ok(None)` when it is not a packed document.
pub fn unpack(bytes: &[u8]) -> Result<Option<String>, StoreError> {
    let Some(block) = bytes.strip_prefix(MAGIC.as_slice()) else {
        return Ok(None);
    };
    let damaged =
        |why: String| StoreError::Database(format!("a stored document is damaged: {why}"));
    let claimed = block
        .get(..4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_le_bytes)
        .ok_or_else(|| damaged("too short".into()))?;
    // An LZ4 block expands at most ~255 times.
    if claimed as usize > MAX_TEXT || claimed as usize > block.len().saturating_mul(255) {
        return Err(damaged(format!("it claims {claimed} bytes")));
    }
    let text = lz4_flex::decompress_size_prepended(block).map_err(|e| damaged(e.to_string()))?;
    if text.len() != claimed as usize {
        return Err(damaged(format!(
            "it holds {} bytes, not the {claimed} it claims",
            text.len()
        )));
    }
    String::from_utf8(text)
        .map(Some)
        .map_err(|e| damaged(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn emails(n: usize) -> String {
        let list: Vec<String> = (0..n)
            .map(|i| format!(r#"{{"value":"person-{i}@example.com","type":"work"}}"#))
            .collect();
        format!(r#"{{"emails":[{}]}}"#, list.join(","))
    }

    #[test]
    fn short_documents_stay_text() {
        let d = Document::new(emails(3));
        assert!(d.text().len() < PACK_AT);
        assert_eq!(d.pack(), None);
    }

    #[test]
    fn large_documents_are_packed_and_come_back_unchanged() {
        let text = emails(1000);
        let d = Document::new(text.clone());
        let packed = d
            .pack()
            .expect("a large repetitive document is packed")
            .to_vec();
        assert!(packed.starts_with(MAGIC));
        assert!(
            packed.len() * 4 < text.len(),
            "{} of {}",
            packed.len(),
            text.len()
        );
        assert_eq!(unpack(&packed).unwrap().as_deref(), Some(text.as_str()));
    }

    #[test]
    fn text_that_does_not_compress_stays_text() {
        // Random hex: LZ4 cannot shorten it by a quarter.
        let text: String = (0..8192)
            .map(|_| char::from(b"0123456789abcdef"[rand::random_range(0..16)]))
            .collect();
        assert_eq!(Document::new(text).pack(), None);
    }

    #[test]
    fn other_blobs_are_not_documents_and_damaged_ones_are_errors() {
        assert_eq!(unpack(b"\x01\x02secret hash").unwrap(), None);
        assert!(unpack(b"\0lz4").is_err());
        // Claims 4 GiB.
        assert!(unpack(b"\0lz4\xff\xff\xff\xff\x00").is_err());
        let mut packed = Document::new(emails(500)).pack().unwrap().to_vec();
        packed.truncate(packed.len() / 2);
        assert!(unpack(&packed).is_err());
        // A block that decodes to fewer bytes than its header claims.
        let mut packed = Document::new(emails(500)).pack().unwrap().to_vec();
        let claimed = u32::from_le_bytes(packed[4..8].try_into().unwrap()) + 7;
        packed[4..8].copy_from_slice(&claimed.to_le_bytes());
        assert!(unpack(&packed).is_err());
    }

    proptest! {
        #[test]
        fn any_text_round_trips(text in ".{0,6000}", repeat in 1usize..4) {
            let text = text.repeat(repeat);
            let d = Document::new(text.clone());
            match d.pack() {
                Some(p) => prop_assert_eq!(unpack(p).unwrap(), Some(text)),
                // Left as text: short, or not shortened by a quarter.
                None => prop_assert!(
                    text.len() < PACK_AT
                        || (lz4_flex::compress_prepend_size(text.as_bytes()).len() + MAGIC.len()) as f64
                            > text.len() as f64 * WORTH_IT
                ),
            }
        }

        #[test]
        fn unpacking_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut with_magic = MAGIC.to_vec();
            with_magic.extend_from_slice(&bytes);
            let _ = unpack(&with_magic);
            let _ = unpack(&bytes);
        }
    }
}
