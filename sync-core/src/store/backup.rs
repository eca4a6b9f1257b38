//! Consistent copies of redb files for backups: every row of a file as one
//! read transaction sees it, written into a fresh file, with a fingerprint of
//! the content (rows and SHA-256 per table) to verify the copy against.
//!
//! Used by `relay backup` for the journal files (every table of this layout,
//! [`copy_store`]) and for its registry (its own tables, [`copy_table`]).

use std::path::Path;

use redb::{Database, ReadTransaction, ReadableTable, TableDefinition, TableHandle};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::StoreError;
use super::erasure::{EachTable, check_known_tables, each_table};

/// What one table holds: its rows, and a SHA-256 over every key and value in
/// key order (each preceded by its length). Two tables with equal
/// `TableContents` hold the same rows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableContents {
    pub table: String,
    pub rows: u64,
    /// Hex SHA-256 of the rows.
    pub sha256: String,
}

/// Reads every row of `table` as `from` sees it, copying each into `to` when
/// given; `None` when the file has no such table (then nothing is made in `to`).
pub fn copy_table<K: redb::Key + 'static, V: redb::Value + 'static>(
    from: &ReadTransaction,
    to: Option<&redb::WriteTransaction>,
    table: TableDefinition<K, V>,
) -> Result<Option<TableContents>, redb::Error> {
    let source = match from.open_table(table) {
        Ok(source) => source,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut target = to.map(|to| to.open_table(table)).transpose()?;
    let mut digest = Sha256::new();
    let mut rows = 0;
    for row in source.iter()? {
        let (key, value) = row?;
        let (key, value) = (key.value(), value.value());
        for bytes in [
            K::as_bytes(&key).as_ref().to_vec(),
            V::as_bytes(&value).as_ref().to_vec(),
        ] {
            digest.update((bytes.len() as u64).to_le_bytes());
            digest.update(&bytes);
        }
        if let Some(target) = target.as_mut() {
            target.insert(key, value)?;
        }
        rows += 1;
    }
    Ok(Some(TableContents {
        table: table.name().to_owned(),
        rows,
        sha256: hex(&digest.finalize()),
    }))
}

/// Copies every table of a store (a journal file) as `from` sees it into a
/// new file at `to`, committed durably; returns what each table holds. A file
/// holding a table this version does not know is refused (copying would drop it).
pub fn copy_store(from: &ReadTransaction, to: &Path) -> Result<Vec<TableContents>, StoreError> {
    check_known_tables(from)?;
    let fresh = Database::create(to)?;
    let tx = super::begin_durable(&fresh)?;
    let contents = visit_store(from, Some(&tx))?;
    tx.commit()?;
    Ok(contents)
}

/// What every table of a store holds, as `from` sees it (to compare a copy
/// with what [`copy_store`] returned).
pub fn store_contents(from: &ReadTransaction) -> Result<Vec<TableContents>, StoreError> {
    check_known_tables(from)?;
    visit_store(from, None)
}

fn visit_store(
    from: &ReadTransaction,
    to: Option<&redb::WriteTransaction>,
) -> Result<Vec<TableContents>, StoreError> {
    struct Copy<'a> {
        from: &'a ReadTransaction,
        to: Option<&'a redb::WriteTransaction>,
        contents: Vec<TableContents>,
    }
    impl EachTable for Copy<'_> {
        fn table<K: redb::Key + 'static>(
            &mut self,
            table: TableDefinition<K, &[u8]>,
        ) -> Result<(), StoreError> {
            if let Some(c) = copy_table(self.from, self.to, table)? {
                self.contents.push(c);
            }
            Ok(())
        }
    }
    let mut copy = Copy {
        from,
        to,
        contents: Vec::new(),
    };
    each_table(&mut copy)?;
    Ok(copy.contents)
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
