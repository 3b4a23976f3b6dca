//! Online re-encryption after a rotation, written once over the sealed columns each service
//! declares ([`crate::service::Definition::SEALED`]): batches of rows holding a value that is
//! not at the keyring's current version (an older key, or legacy clear text) are opened and
//! sealed again, each row updated only if it still holds what was read, so a service writing
//! at the same time loses nothing. Re-running it after an interruption picks up what is left.

use sqlx::Row;

use super::Keyring;
use crate::db::Db;

/// A table of a service's store with sealed columns.
#[derive(Debug, Clone, Copy)]
pub struct SealedTable {
    pub table: &'static str,
    /// The columns that name a row (its primary key).
    pub keys: &'static [&'static str],
    pub columns: &'static [SealedColumn],
}

/// A sealed column and the purpose its values are bound to (the associated data).
#[derive(Debug, Clone, Copy)]
pub struct SealedColumn {
    pub name: &'static str,
    /// `<service>.<table>.<column>`: a value moved to another column does not open.
    pub purpose: &'static str,
}

impl SealedColumn {
    pub const fn new(name: &'static str, purpose: &'static str) -> Self {
        Self { name, purpose }
    }
}

/// One batch's work.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Batch {
    /// Rows found not at the current version.
    pub found: u64,
    /// Of those, rows sealed again with the current key (the others changed meanwhile and are
    /// looked at again by the next batch).
    pub resealed: u64,
}

/// `(c <> '' AND c NOT LIKE $1) OR ...`: a row with a value not at the current version.
fn behind(table: &SealedTable) -> String {
    table
        .columns
        .iter()
        .map(|c| format!("({0} <> '' AND {0} NOT LIKE $1)", c.name))
        .collect::<Vec<_>>()
        .join(" OR ")
}

/// How many rows of `tables` hold a value not at `keyring`'s current version.
pub async fn pending(db: &Db, keyring: &Keyring, tables: &[SealedTable]) -> anyhow::Result<u64> {
    let pattern = format!("{}%", keyring.current_prefix());
    let mut total = 0;
    for table in tables {
        let sql = format!(
            "SELECT COUNT(*) FROM {} WHERE {}",
            table.table,
            behind(table)
        );
        let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(&pattern)
            .fetch_one(db.pool())
            .await?;
        total += count as u64;
    }
    Ok(total)
}

/// Seals again with the current key up to `batch` rows of each of `tables` that hold a value
/// at another version, in one transaction per table.
pub async fn reseal_batch(
    db: &Db,
    keyring: &Keyring,
    tables: &[SealedTable],
    batch: u32,
) -> anyhow::Result<Batch> {
    let pattern = format!("{}%", keyring.current_prefix());
    let mut done = Batch::default();
    for table in tables {
        let keys = table
            .keys
            .iter()
            .map(|k| format!("CAST({k} AS TEXT)"))
            .collect::<Vec<_>>();
        let columns = table.columns.iter().map(|c| c.name).collect::<Vec<_>>();
        let select = format!(
            "SELECT {}, {} FROM {} WHERE {} LIMIT {batch}",
            keys.join(", "),
            columns.join(", "),
            table.table,
            behind(table)
        );
        let n = columns.len();
        let sets = (0..n)
            .map(|i| format!("{} = ${}", columns[i], i + 1))
            .collect::<Vec<_>>();
        let conditions = keys
            .iter()
            .chain(&columns.iter().map(|c| c.to_string()).collect::<Vec<_>>())
            .enumerate()
            .map(|(i, k)| format!("{k} = ${}", n + i + 1))
            .collect::<Vec<_>>();
        let update = format!(
            "UPDATE {} SET {} WHERE {}",
            table.table,
            sets.join(", "),
            conditions.join(" AND ")
        );
        let mut tx = db.begin().await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(select.clone()))
            .bind(&pattern)
            .fetch_all(&mut *tx)
            .await?;
        for row in rows {
            done.found += 1;
            let key_values = (0..keys.len())
                .map(|i| row.try_get::<String, _>(i))
                .collect::<Result<Vec<_>, _>>()?;
            let old = (0..n)
                .map(|i| row.try_get::<String, _>(keys.len() + i))
                .collect::<Result<Vec<_>, _>>()?;
            let mut new = Vec::with_capacity(n);
            for (column, stored) in table.columns.iter().zip(&old) {
                let sealed = keyring.reseal(column.purpose, stored)?;
                new.push(sealed.unwrap_or_else(|| stored.clone()));
            }
            let mut query = sqlx::query(sqlx::AssertSqlSafe(update.clone()));
            for value in new.iter().chain(&key_values).chain(&old) {
                query = query.bind(value.clone());
            }
            done.resealed += query.execute(&mut *tx).await?.rows_affected();
        }
        db.commit(tx).await?;
    }
    Ok(done)
}

/// Seals again every value of `tables` not at the current version, `batch` rows at a time,
/// telling `progress` the rows done and the total after each batch; answers the rows done.
pub async fn reseal_all(
    db: &Db,
    keyring: &Keyring,
    tables: &[SealedTable],
    batch: u32,
    mut progress: impl FnMut(u64, u64),
) -> anyhow::Result<u64> {
    let mut total = pending(db, keyring, tables).await?;
    let mut done = 0;
    progress(done, total);
    loop {
        let step = reseal_batch(db, keyring, tables, batch.max(1)).await?;
        if step.found == 0 {
            return Ok(done);
        }
        done += step.resealed;
        // Rows written meanwhile by a service that had not yet read the new key count too.
        total = total.max(done);
        progress(done, total);
    }
}
