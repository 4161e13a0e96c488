//! A small streaming reader for the zip container format, shaped after Go's
//! `archive/zip` reader so that hashing and checking see a zip exactly as the
//! go command does.
//!
//! Only the central directory is held in memory; entry contents are streamed
//! from the underlying reader. Stored (0) and deflated (8) entries can be read;
//! any other method is reported as unsupported, as Go does.
//!
//! Reading an entry enforces what Go's reader enforces: the decompressed size
//! must equal the size declared in the central directory, and the CRC-32 must
//! match (when it is non-zero or a data descriptor is present).

use std::io::{self, BufReader, Read, Seek, SeekFrom, Take};

use flate2::read::DeflateDecoder;

const EOCD_SIG: u32 = 0x0605_4b50;
const EOCD_LEN: usize = 22;
const EOCD64_LOCATOR_SIG: u32 = 0x0706_4b50;
const EOCD64_LOCATOR_LEN: usize = 20;
const EOCD64_SIG: u32 = 0x0606_4b50;
const CDH_SIG: u32 = 0x0201_4b50;
const LOCAL_SIG: u32 = 0x0403_4b50;
const DATA_DESCRIPTOR_SIG: u32 = 0x0807_4b50;
const LOCAL_HEADER_LEN: u64 = 30;
const ZIP64_EXTRA_ID: u16 = 0x0001;

/// Compression method "stored" (no compression).
pub const METHOD_STORE: u16 = 0;
/// Compression method "deflate".
pub const METHOD_DEFLATE: u16 = 8;
/// General-purpose flag bit: sizes and CRC follow the data in a data descriptor.
pub const FLAG_DATA_DESCRIPTOR: u16 = 0x8;

const READ_BUF: usize = 256 * 1024;

/// Why a zip file could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ZipFormatError {
    /// Reading the underlying file failed.
    #[error("reading zip: {0}")]
    Io(#[from] io::Error),
    /// The container structure is broken (Go's `zip: not a valid zip file`).
    #[error("zip: not a valid zip file ({0})")]
    Format(String),
    /// An entry uses a compression method other than store or deflate.
    #[error("zip: unsupported compression algorithm {method} for {name:?}")]
    Algorithm {
        /// The entry name.
        name: String,
        /// The method number.
        method: u16,
    },
    /// An entry decompressed to more or fewer bytes than its declared size.
    #[error(
        "zip entry {name:?}: uncompressed size is {}than declared size ({declared} bytes)",
        if *larger { "larger " } else { "smaller " }
    )]
    SizeMismatch {
        /// The entry name.
        name: String,
        /// The size declared in the central directory.
        declared: u64,
        /// True if the real size exceeds the declared size.
        larger: bool,
    },
    /// An entry's CRC-32 does not match its contents (Go's `zip: checksum error`).
    #[error("zip: checksum error in {name:?}")]
    Checksum {
        /// The entry name.
        name: String,
    },
    /// The deflate stream of an entry is corrupt.
    #[error("zip entry {name:?}: corrupt deflate data: {source}")]
    Deflate {
        /// The entry name.
        name: String,
        /// The decoder's error.
        source: io::Error,
    },
}

impl ZipFormatError {
    fn format(msg: impl Into<String>) -> Self {
        ZipFormatError::Format(msg.into())
    }
}

/// One entry of the central directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The raw name bytes (Go does no charset conversion either).
    pub name: Vec<u8>,
    /// Compression method.
    pub method: u16,
    /// General-purpose flags.
    pub flags: u16,
    /// Declared CRC-32.
    pub crc32: u32,
    /// Declared compressed size.
    pub compressed_size: u64,
    /// Declared uncompressed size.
    pub uncompressed_size: u64,
    /// Offset of the local file header.
    pub header_offset: u64,
    /// "Version made by" (upper byte is the creator OS).
    pub creator_version: u16,
    /// External attributes (Unix mode in the upper 16 bits for Unix creators).
    pub external_attrs: u32,
}

impl Entry {
    /// The name as text, with invalid UTF-8 replaced (for messages).
    pub fn name_lossy(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }

    /// True if the name ends in `/` (a directory entry).
    pub fn is_dir(&self) -> bool {
        self.name.last() == Some(&b'/')
    }
}

/// A zip archive opened for streaming reads.
#[derive(Debug)]
pub struct ZipArchive<R> {
    reader: BufReader<R>,
    size: u64,
    entries: Vec<Entry>,
}

fn u16le(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}
fn u32le(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}
fn u64le(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[off..off + 8]);
    u64::from_le_bytes(a)
}

impl<R: Read + Seek> ZipArchive<R> {
    /// Reads the central directory of `inner`, whose total length is found by seeking.
    pub fn new(mut inner: R) -> Result<Self, ZipFormatError> {
        let size = inner.seek(SeekFrom::End(0))?;
        let mut reader = BufReader::with_capacity(READ_BUF, inner);
        let entries = read_directory(&mut reader, size)?;
        Ok(ZipArchive {
            reader,
            size,
            entries,
        })
    }

    /// The total size of the zip in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The central directory entries, in order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Opens entry `index` for reading its decompressed contents. The reader
    /// fails (like Go's) if the contents are longer or shorter than declared
    /// or the CRC-32 does not match.
    ///
    /// # Panics
    /// Never for an in-range `index`; an out-of-range one is reported as a format error.
    pub fn open(&mut self, index: usize) -> Result<EntryReader<'_, R>, ZipFormatError> {
        let entry = self
            .entries
            .get(index)
            .cloned()
            .ok_or_else(|| ZipFormatError::format(format!("no entry {index}")))?;
        let name = entry.name_lossy();
        // Go reads the local header before anything else, directories included.
        let body = self.body_offset(&entry)?;
        if entry.is_dir() {
            // Go: directories must carry no data; a non-zero declared size is a
            // format error, anything else reads as empty.
            if entry.uncompressed_size != 0 {
                return Err(ZipFormatError::format(format!(
                    "directory entry {name:?} declares {} bytes of data",
                    entry.uncompressed_size
                )));
            }
            return Ok(EntryReader {
                inner: Decoder::Empty,
                entry,
                name,
                nread: 0,
                crc: crc32fast::Hasher::new(),
                done: false,
            });
        }
        if entry.method != METHOD_STORE && entry.method != METHOD_DEFLATE {
            return Err(ZipFormatError::Algorithm {
                name,
                method: entry.method,
            });
        }
        self.reader.seek(SeekFrom::Start(body))?;
        let take = (&mut self.reader).take(entry.compressed_size);
        let inner = if entry.method == METHOD_STORE {
            Decoder::Stored(take)
        } else {
            Decoder::Deflate(Box::new(DeflateDecoder::new_with_buf(
                take,
                vec![0u8; READ_BUF],
            )))
        };
        Ok(EntryReader {
            inner,
            entry,
            name,
            nread: 0,
            crc: crc32fast::Hasher::new(),
            done: false,
        })
    }

    fn body_offset(&mut self, entry: &Entry) -> Result<u64, ZipFormatError> {
        let mut hdr = [0u8; LOCAL_HEADER_LEN as usize];
        if entry.header_offset.saturating_add(LOCAL_HEADER_LEN) > self.size {
            return Err(ZipFormatError::format(format!(
                "local header of {:?} is past the end of the file",
                entry.name_lossy()
            )));
        }
        self.reader.seek(SeekFrom::Start(entry.header_offset))?;
        self.reader.read_exact(&mut hdr)?;
        if u32le(&hdr, 0) != LOCAL_SIG {
            return Err(ZipFormatError::format(format!(
                "bad local header signature for {:?}",
                entry.name_lossy()
            )));
        }
        let name_len = u64::from(u16le(&hdr, 26));
        let extra_len = u64::from(u16le(&hdr, 28));
        Ok(entry.header_offset + LOCAL_HEADER_LEN + name_len + extra_len)
    }

    /// Reads the data descriptor that follows entry `entry`'s data, returning its CRC-32.
    fn descriptor_crc(&mut self, entry: &Entry) -> Result<u32, ZipFormatError> {
        let body = self.body_offset(entry)?;
        self.reader
            .seek(SeekFrom::Start(body.saturating_add(entry.compressed_size)))?;
        let mut buf = [0u8; 8];
        self.reader.read_exact(&mut buf).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                ZipFormatError::format(format!(
                    "data descriptor of {:?} is truncated",
                    entry.name_lossy()
                ))
            } else {
                ZipFormatError::Io(e)
            }
        })?;
        // The signature is optional.
        if u32le(&buf, 0) == DATA_DESCRIPTOR_SIG {
            Ok(u32le(&buf, 4))
        } else {
            Ok(u32le(&buf, 0))
        }
    }

    /// Reads entry `index` to the end, feeding every chunk to `sink`, and
    /// verifies size and CRC-32 (including a data descriptor's CRC) as Go does.
    pub fn read_entry(
        &mut self,
        index: usize,
        mut sink: impl FnMut(&[u8]),
    ) -> Result<u64, ZipFormatError> {
        let mut buf = vec![0u8; READ_BUF];
        let (n, crc, entry) = {
            let mut r = self.open(index)?;
            loop {
                let k = r.read_checked(&mut buf)?;
                if k == 0 {
                    break;
                }
                sink(&buf[..k]);
            }
            (r.nread, r.crc.clone().finalize(), r.entry.clone())
        };
        if entry.flags & FLAG_DATA_DESCRIPTOR != 0 && !entry.is_dir() {
            let desc = self.descriptor_crc(&entry)?;
            if desc != entry.crc32 || crc != entry.crc32 {
                return Err(ZipFormatError::Checksum {
                    name: entry.name_lossy(),
                });
            }
        }
        Ok(n)
    }
}

enum Decoder<'a, R> {
    Empty,
    Stored(Take<&'a mut BufReader<R>>),
    Deflate(Box<DeflateDecoder<Take<&'a mut BufReader<R>>>>),
}

/// The decompressed contents of one entry; see [`ZipArchive::open`].
pub struct EntryReader<'a, R> {
    inner: Decoder<'a, R>,
    entry: Entry,
    name: String,
    nread: u64,
    crc: crc32fast::Hasher,
    done: bool,
}

impl<R> std::fmt::Debug for EntryReader<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntryReader")
            .field("name", &self.name)
            .field("nread", &self.nread)
            .finish()
    }
}

impl<R: Read> EntryReader<'_, R> {
    /// Bytes decompressed so far.
    pub fn bytes_read(&self) -> u64 {
        self.nread
    }

    fn read_checked(&mut self, buf: &mut [u8]) -> Result<usize, ZipFormatError> {
        if self.done {
            return Ok(0);
        }
        let n = match &mut self.inner {
            Decoder::Empty => 0,
            Decoder::Stored(r) => r.read(buf)?,
            Decoder::Deflate(r) => r.read(buf).map_err(|e| {
                if e.kind() == io::ErrorKind::InvalidInput || e.kind() == io::ErrorKind::InvalidData
                {
                    ZipFormatError::Deflate {
                        name: self.name.clone(),
                        source: e,
                    }
                } else {
                    ZipFormatError::Io(e)
                }
            })?,
        };
        self.nread += n as u64;
        if self.nread > self.entry.uncompressed_size {
            return Err(ZipFormatError::SizeMismatch {
                name: self.name.clone(),
                declared: self.entry.uncompressed_size,
                larger: true,
            });
        }
        if n == 0 {
            self.done = true;
            if self.nread != self.entry.uncompressed_size {
                return Err(ZipFormatError::SizeMismatch {
                    name: self.name.clone(),
                    declared: self.entry.uncompressed_size,
                    larger: false,
                });
            }
            if matches!(self.inner, Decoder::Empty) {
                // Go's reader returns directories as empty without any CRC check.
                return Ok(0);
            }
            let sum = self.crc.clone().finalize();
            let has_desc = self.entry.flags & FLAG_DATA_DESCRIPTOR != 0;
            if (self.entry.crc32 != 0 || has_desc) && sum != self.entry.crc32 {
                return Err(ZipFormatError::Checksum {
                    name: self.name.clone(),
                });
            }
            return Ok(0);
        }
        self.crc.update(&buf[..n]);
        Ok(n)
    }
}

impl<R: Read> Read for EntryReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_checked(buf).map_err(|e| match e {
            ZipFormatError::Io(e) => e,
            other => io::Error::new(io::ErrorKind::InvalidData, other),
        })
    }
}

fn read_directory<R: Read + Seek>(
    r: &mut BufReader<R>,
    size: u64,
) -> Result<Vec<Entry>, ZipFormatError> {
    // Find the end-of-central-directory record in the last 64 KiB + 22 bytes.
    let tail_len = size.min(65535 + EOCD_LEN as u64 + 1024);
    if size < EOCD_LEN as u64 {
        return Err(ZipFormatError::format("file is too short"));
    }
    let tail_start = size - tail_len;
    r.seek(SeekFrom::Start(tail_start))?;
    let mut tail = vec![0u8; tail_len as usize];
    r.read_exact(&mut tail)?;
    let mut eocd_at = None;
    let mut i = tail.len() - EOCD_LEN;
    loop {
        if u32le(&tail, i) == EOCD_SIG {
            let comment_len = usize::from(u16le(&tail, i + 20));
            if i + EOCD_LEN + comment_len <= tail.len() {
                eocd_at = Some(i);
            }
            // Like Go: the last signature wins; a truncated comment is invalid.
            break;
        }
        if i == 0 {
            break;
        }
        i -= 1;
    }
    let Some(e) = eocd_at else {
        return Err(ZipFormatError::format("no end of central directory record"));
    };
    let eocd = &tail[e..e + EOCD_LEN];
    let mut records = u64::from(u16le(eocd, 10));
    let mut dir_size = u64::from(u32le(eocd, 12));
    let mut dir_offset = u64::from(u32le(eocd, 16));
    let eocd_pos = tail_start + e as u64;

    // ZIP64: a locator sits right before the EOCD record.
    if eocd_pos >= EOCD64_LOCATOR_LEN as u64 {
        let loc_pos = eocd_pos - EOCD64_LOCATOR_LEN as u64;
        let mut loc = [0u8; EOCD64_LOCATOR_LEN];
        r.seek(SeekFrom::Start(loc_pos))?;
        r.read_exact(&mut loc)?;
        if u32le(&loc, 0) == EOCD64_LOCATOR_SIG {
            let off = u64le(&loc, 8);
            if off.saturating_add(56) > size {
                return Err(ZipFormatError::format("zip64 end record is past the end"));
            }
            let mut rec = [0u8; 56];
            r.seek(SeekFrom::Start(off))?;
            r.read_exact(&mut rec)?;
            if u32le(&rec, 0) != EOCD64_SIG {
                return Err(ZipFormatError::format("bad zip64 end record signature"));
            }
            records = u64le(&rec, 32);
            dir_size = u64le(&rec, 40);
            dir_offset = u64le(&rec, 48);
        }
    }
    if dir_offset > size || dir_offset.saturating_add(dir_size) > size {
        return Err(ZipFormatError::format(
            "central directory is past the end of the file",
        ));
    }

    r.seek(SeekFrom::Start(dir_offset))?;
    let mut entries = Vec::with_capacity(records.min(1 << 16) as usize);
    let mut fixed = [0u8; 46];
    loop {
        match r.read_exact(&mut fixed) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e.into()),
        }
        if u32le(&fixed, 0) != CDH_SIG {
            break;
        }
        let name_len = usize::from(u16le(&fixed, 28));
        let extra_len = usize::from(u16le(&fixed, 30));
        let comment_len = usize::from(u16le(&fixed, 32));
        let mut var = vec![0u8; name_len + extra_len + comment_len];
        r.read_exact(&mut var).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                ZipFormatError::format("central directory is truncated")
            } else {
                ZipFormatError::Io(e)
            }
        })?;
        let mut entry = Entry {
            name: var[..name_len].to_vec(),
            creator_version: u16le(&fixed, 4),
            flags: u16le(&fixed, 8),
            method: u16le(&fixed, 10),
            crc32: u32le(&fixed, 16),
            compressed_size: u64::from(u32le(&fixed, 20)),
            uncompressed_size: u64::from(u32le(&fixed, 24)),
            external_attrs: u32le(&fixed, 38),
            header_offset: u64::from(u32le(&fixed, 42)),
        };
        let extra = &var[name_len..name_len + extra_len];
        apply_zip64_extra(&mut entry, extra)?;
        entries.push(entry);
    }
    // Like Go: only the low 16 bits of the record count must agree.
    if (entries.len() as u64 & 0xffff) != (records & 0xffff) {
        return Err(ZipFormatError::format(format!(
            "end record says {records} entries, central directory has {}",
            entries.len()
        )));
    }
    Ok(entries)
}

fn apply_zip64_extra(entry: &mut Entry, mut extra: &[u8]) -> Result<(), ZipFormatError> {
    let short = |entry: &Entry, what: &str| {
        ZipFormatError::format(format!("{what} of {:?} is truncated", entry.name_lossy()))
    };
    while extra.len() >= 4 {
        let id = u16le(extra, 0);
        let len = usize::from(u16le(extra, 2));
        if extra.len() < 4 + len {
            return Err(short(entry, "extra field"));
        }
        let mut field = &extra[4..4 + len];
        if id == ZIP64_EXTRA_ID {
            for slot in 0..3 {
                let value = match slot {
                    0 => &mut entry.uncompressed_size,
                    1 => &mut entry.compressed_size,
                    _ => &mut entry.header_offset,
                };
                if *value != 0xffff_ffff {
                    continue;
                }
                if field.len() < 8 {
                    return Err(short(entry, "zip64 extra field"));
                }
                *value = u64le(field, 0);
                field = &field[8..];
            }
        }
        extra = &extra[4 + len..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn rejects_garbage() {
        let err = ZipArchive::new(Cursor::new(b"not a zip at all, clearly".to_vec())).unwrap_err();
        assert!(err.to_string().contains("not a valid zip file"), "{err}");
    }

    #[test]
    fn empty_zip() {
        let mut z = vec![0u8; 22];
        z[..4].copy_from_slice(&EOCD_SIG.to_le_bytes());
        let a = ZipArchive::new(Cursor::new(z)).unwrap();
        assert!(a.entries().is_empty());
    }
}
