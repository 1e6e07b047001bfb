//! `Key`: namespace + type tag + user key, and its memcomparable byte encoding.
//!
//! Encoding (byte order == key order):
//!
//! ```text
//! tenant 0x00 app 0x00 agent 0x00 | run id (16 bytes, big-endian) | type tag (1 byte) | user key
//! ```
//!
//! Names hold no 0x00 (see `AgentId::validate`), so the terminators keep shorter names first. The
//! run id has a fixed width and the user key comes last, so a prefix of a key's logical parts is a
//! byte prefix of its encoding: "all keys of a run", "all KV keys of a run starting with `user:`"
//! are range scans.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::limits::USER_KEY_BYTES_MAX;
use crate::namespace::{AgentId, Namespace};
use crate::run_id::RunId;
use crate::type_tag::TypeTag;

/// A fully qualified key, ordered by namespace (tenant, app, agent, run), then type tag, then
/// user key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Key {
    namespace: Namespace,
    type_tag: TypeTag,
    user_key: Vec<u8>,
}

impl Key {
    /// A key of `type_tag` in `namespace`.
    pub fn new(namespace: Namespace, type_tag: TypeTag, user_key: impl Into<Vec<u8>>) -> Self {
        Key {
            namespace,
            type_tag,
            user_key: user_key.into(),
        }
    }

    /// The namespace.
    pub fn namespace(&self) -> &Namespace {
        &self.namespace
    }

    /// The type tag.
    pub fn type_tag(&self) -> TypeTag {
        self.type_tag
    }

    /// The user key.
    pub fn user_key(&self) -> &[u8] {
        &self.user_key
    }

    /// Checks the namespace names and the user key (non-empty, at most
    /// [`USER_KEY_BYTES_MAX`] bytes).
    pub fn validate(&self) -> Result<()> {
        self.namespace.validate()?;
        Self::validate_user_key(&self.user_key)
    }

    /// The memcomparable encoding (see the module docs). The namespace must be valid.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode_into(&mut out);
        out
    }

    /// Appends the memcomparable encoding to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        self.namespace.encode_into(out);
        out.push(self.type_tag.as_byte());
        out.extend_from_slice(&self.user_key);
    }

    /// Length of [`Key::encode`]'s output.
    pub fn encoded_len(&self) -> usize {
        let ns = &self.namespace;
        ns.tenant().len() + ns.app().len() + ns.agent().len() + 3 + 16 + 1 + self.user_key.len()
    }

    /// The prefix shared by every key of `type_tag` in `namespace`: the encoding of a key with an
    /// empty user key.
    pub fn type_prefix(namespace: &Namespace, type_tag: TypeTag) -> Vec<u8> {
        let mut out = Vec::new();
        namespace.encode_into(&mut out);
        out.push(type_tag.as_byte());
        out
    }

    /// Decodes an encoding made by [`Key::encode`]. Any other bytes give
    /// [`Error::Malformed`] or [`Error::UnknownTypeTag`], never a panic.
    pub fn decode(bytes: &[u8]) -> Result<Key> {
        let (namespace, run_end) = decode_namespace(bytes)?;
        let tag = *bytes.get(run_end).ok_or(Error::Malformed {
            what: "key",
            offset: run_end,
            reason: "type tag is missing",
        })?;
        Ok(Key {
            namespace,
            type_tag: TypeTag::try_from(tag)?,
            user_key: bytes.get(run_end + 1..).unwrap_or_default().to_vec(),
        })
    }

    /// The parts of an encoded key that say whose it is, read without allocating: the length of
    /// its agent part (tenant, app and agent with their terminators, the bytes that every key
    /// of the agent starts with), its run id and its type tag.
    pub fn decode_owner(bytes: &[u8]) -> Result<(usize, RunId, TypeTag)> {
        let (_, pos) = name_ends(bytes)?;
        let run_end = pos + 16;
        let run: [u8; 16] = bytes
            .get(pos..run_end)
            .and_then(|s| s.try_into().ok())
            .ok_or(Error::Malformed {
                what: "key",
                offset: pos,
                reason: "run id is cut short",
            })?;
        let tag = *bytes.get(run_end).ok_or(Error::Malformed {
            what: "key",
            offset: run_end,
            reason: "type tag is missing",
        })?;
        Ok((pos, RunId::from_bytes(run), TypeTag::try_from(tag)?))
    }

    /// Decodes exactly an encoded namespace (what [`Namespace::encode_into`] writes: the prefix of
    /// every key of one run), as the engine logs it when it deletes a run's data.
    pub fn decode_namespace(bytes: &[u8]) -> Result<Namespace> {
        let (namespace, end) = decode_namespace(bytes)?;
        if end != bytes.len() {
            return Err(Error::Malformed {
                what: "namespace",
                offset: end,
                reason: "bytes after the run id",
            });
        }
        Ok(namespace)
    }

    /// The type tag of an encoded key, read without decoding (or allocating) the rest.
    pub fn decode_type_tag(bytes: &[u8]) -> Result<TypeTag> {
        let (_, pos) = name_ends(bytes)?;
        let tag_at = pos + 16;
        let tag = *bytes.get(tag_at).ok_or(Error::Malformed {
            what: "key",
            offset: tag_at.min(bytes.len()),
            reason: "type tag is missing",
        })?;
        TypeTag::try_from(tag)
    }

    /// Checks a user key on its own: non-empty and at most [`USER_KEY_BYTES_MAX`] bytes.
    pub fn validate_user_key(user_key: &[u8]) -> Result<()> {
        if user_key.is_empty() {
            return Err(Error::EmptyKey);
        }
        if user_key.len() > USER_KEY_BYTES_MAX {
            return Err(Error::KeyTooLong {
                len: user_key.len(),
                max: USER_KEY_BYTES_MAX,
            });
        }
        Ok(())
    }
}

/// The namespace at the start of `bytes` and where it ends.
fn decode_namespace(bytes: &[u8]) -> Result<(Namespace, usize)> {
    let (name_ends, pos) = name_ends(bytes)?;
    let mut start = 0;
    let mut names = [String::new(), String::new(), String::new()];
    for (name, end) in names.iter_mut().zip(name_ends) {
        std::str::from_utf8(bytes.get(start..end).unwrap_or_default())
            .map_err(|_| Error::Malformed {
                what: "key",
                offset: start,
                reason: "namespace name is not UTF-8",
            })?
            .clone_into(name);
        start = end + 1;
    }
    let run_end = pos + 16;
    let run: [u8; 16] = bytes
        .get(pos..run_end)
        .and_then(|s| s.try_into().ok())
        .ok_or(Error::Malformed {
            what: "key",
            offset: pos,
            reason: "run id is cut short",
        })?;
    let [tenant, app, agent] = names;
    Ok((
        Namespace::for_run(AgentId::new(tenant, app, agent), RunId::from_bytes(run)),
        run_end,
    ))
}

/// Where the three 0x00-terminated namespace names of an encoded key end (the offsets of their
/// terminators), and the offset just past the last one.
fn name_ends(bytes: &[u8]) -> Result<([usize; 3], usize)> {
    let mut ends = [0; 3];
    let mut pos = 0;
    for end in &mut ends {
        let len = bytes[pos..]
            .iter()
            .position(|&b| b == 0)
            .ok_or(Error::Malformed {
                what: "key",
                offset: bytes.len(),
                reason: "namespace name has no terminator",
            })?;
        *end = pos + len;
        pos += len + 1;
    }
    Ok((ends, pos))
}

#[cfg(test)]
mod tests;
