//! The CT IoT platforms' rows in the store: products, devices, uplinks and downlinks (their
//! payloads as bytes, `BLOB`s since schema version 2).

use crate::{Store, StoreError};
use nbmodem_standin::ctiot::fota::{Package, Task, Upgrade};
use nbmodem_standin::ctiot::{Device, Downlink, DownlinkStatus, Flavour, Product, Uplink};
use nbmodem_standin::Write;
use rusqlite::{params, Connection, Row};

/// Carries out one of the CT IoT writes (the others are the store's own).
pub(crate) fn write(connection: &Connection, write: &Write) -> Result<(), StoreError> {
    match write {
        Write::Product(product) => put_product(connection, product),
        Write::CtIotDevice(device) => put_device(connection, device),
        Write::RemoveCtIotDevice(flavour, imei) => remove_device(connection, *flavour, imei),
        Write::Uplink(uplink) => put_uplink(connection, uplink),
        Write::Downlink(downlink) => put_downlink(connection, downlink),
        Write::FotaPackage(package) => put_package(connection, package),
        Write::FotaTask(task) => put_body(
            connection,
            "ctiot_fota_tasks",
            &[("flavour", task.flavour.as_str()), ("id", &task.id)],
            task,
        ),
        Write::FotaUpgrade(upgrade) => put_body(
            connection,
            "ctiot_fota_upgrades",
            &[
                ("flavour", upgrade.flavour.as_str()),
                ("task", &upgrade.task),
                ("imei", &upgrade.imei),
            ],
            upgrade,
        ),
        // The store's own, and the DFOTA keys (`keys.rs`).
        Write::Record(_) | Write::Device(_) | Write::FotaKey(_) | Write::RemoveFotaKey(..) => {
            Ok(())
        }
    }
}

fn put_product(connection: &Connection, product: &Product) -> Result<(), StoreError> {
    let profile = product.profile.to_string();
    let codec = serde_json::to_string(&product.codec).map_err(corrupt)?;
    connection
        .prepare_cached(
            "INSERT OR REPLACE INTO ctiot_products (flavour, id, profile, codec)
             VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![
            product.flavour.as_str(),
            product.id,
            profile,
            codec
        ])?;
    Ok(())
}

/// A JSON value as a column (none: NULL).
fn json_column<T: serde::Serialize>(value: &Option<T>) -> Result<Option<String>, StoreError> {
    value
        .as_ref()
        .map(|v| serde_json::to_string(v).map_err(corrupt))
        .transpose()
}

/// A column of JSON as a value (NULL: none).
fn json_value<T: serde::de::DeserializeOwned>(
    text: Option<String>,
) -> Result<Option<T>, StoreError> {
    text.map(|t| serde_json::from_str(&t).map_err(corrupt))
        .transpose()
}

fn put_device(connection: &Connection, device: &Device) -> Result<(), StoreError> {
    connection
        .prepare_cached(
            "INSERT OR REPLACE INTO ctiot_devices (flavour, imei, psk, product, reply)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![
            device.flavour.as_str(),
            device.imei,
            device.psk,
            device.product,
            device.reply
        ])?;
    Ok(())
}

/// Removes a device and its downlinks.
fn remove_device(connection: &Connection, flavour: Flavour, imei: &str) -> Result<(), StoreError> {
    for table in ["ctiot_devices", "ctiot_downlinks"] {
        connection
            .prepare_cached(&format!(
                "DELETE FROM {table} WHERE flavour = ?1 AND imei = ?2"
            ))?
            .execute(params![flavour.as_str(), imei])?;
    }
    Ok(())
}

fn put_uplink(connection: &Connection, uplink: &Uplink) -> Result<(), StoreError> {
    connection
        .prepare_cached(
            "INSERT INTO ctiot_uplinks
             (flavour, imei, time_ms, time, data, confirmable, sequence, decoded, decode_error)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?
        .execute(params![
            uplink.flavour.as_str(),
            uplink.imei,
            sql_ms(uplink.time_ms),
            uplink.time,
            uplink.data,
            uplink.confirmable,
            uplink.sequence,
            json_column(&uplink.decoded)?,
            uplink.decode_error
        ])?;
    Ok(())
}

fn put_downlink(connection: &Connection, downlink: &Downlink) -> Result<(), StoreError> {
    connection
        .prepare_cached(
            "INSERT OR REPLACE INTO ctiot_downlinks
             (id, flavour, imei, data, status, queued_ms, updated_ms, attempts, command, response)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?
        .execute(params![
            sql_ms(downlink.id),
            downlink.flavour.as_str(),
            downlink.imei,
            downlink.data,
            downlink.status.as_str(),
            sql_ms(downlink.queued_ms),
            sql_ms(downlink.updated_ms),
            downlink.attempts,
            json_column(&downlink.command)?,
            json_column(&downlink.response)?
        ])?;
    Ok(())
}

/// A DFOTA package: its description as JSON and its bytes.
fn put_package(connection: &Connection, package: &Package) -> Result<(), StoreError> {
    let meta = serde_json::to_string(package).map_err(corrupt)?;
    connection
        .prepare_cached(
            "INSERT OR REPLACE INTO ctiot_fota_packages (flavour, id, meta, bytes)
             VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![
            package.flavour.as_str(),
            package.id,
            meta,
            package.bytes.as_slice()
        ])?;
    Ok(())
}

/// Writes a row of a table of JSON bodies (upgrade tasks, upgrades): its key columns and the
/// value as JSON in `body`, replacing the row of the same keys.
fn put_body(
    connection: &Connection,
    table: &str,
    keys: &[(&str, &str)],
    value: &impl serde::Serialize,
) -> Result<(), StoreError> {
    let body = serde_json::to_string(value).map_err(corrupt)?;
    let columns: Vec<&str> = keys.iter().map(|(column, _)| *column).collect();
    let places: Vec<String> = (1..=keys.len() + 1).map(|i| format!("?{i}")).collect();
    let sql = format!(
        "INSERT OR REPLACE INTO {table} ({}, body) VALUES ({})",
        columns.join(", "),
        places.join(", ")
    );
    let mut values: Vec<&dyn rusqlite::ToSql> = keys.iter().map(|(_, v)| v as _).collect();
    values.push(&body);
    connection.prepare_cached(&sql)?.execute(&*values)?;
    Ok(())
}

fn sql_ms(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn from_sql(value: i64) -> u64 {
    u64::try_from(value).unwrap_or_default()
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn flavour(row: &Row<'_>, index: usize) -> Result<Flavour, StoreError> {
    row.get::<_, String>(index)?.parse().map_err(corrupt)
}

impl Store {
    pub fn ctiot_products(&self) -> Result<Vec<Product>, StoreError> {
        let mut statement = self.connection.prepare(
            "SELECT flavour, id, profile, codec FROM ctiot_products ORDER BY flavour, id",
        )?;
        let mut rows = statement.query([])?;
        let mut products = Vec::new();
        while let Some(row) = rows.next()? {
            products.push(Product {
                flavour: flavour(row, 0)?,
                id: row.get(1)?,
                profile: serde_json::from_str(&row.get::<_, String>(2)?).map_err(corrupt)?,
                codec: json_value(row.get(3)?)?.unwrap_or_default(),
            });
        }
        Ok(products)
    }

    pub fn ctiot_devices(&self) -> Result<Vec<Device>, StoreError> {
        let mut statement = self.connection.prepare(
            "SELECT flavour, imei, psk, product, reply FROM ctiot_devices ORDER BY flavour, imei",
        )?;
        let mut rows = statement.query([])?;
        let mut devices = Vec::new();
        while let Some(row) = rows.next()? {
            devices.push(Device {
                flavour: flavour(row, 0)?,
                imei: row.get(1)?,
                psk: row.get(2)?,
                product: row.get(3)?,
                reply: row.get(4)?,
            });
        }
        Ok(devices)
    }

    /// A device's uplinks, newest first: at most `limit`, older than the uplink `before` when
    /// given (the cursor of the next page).
    pub fn uplinks(
        &self,
        flavour: Flavour,
        imei: &str,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Uplink>, StoreError> {
        let mut statement = self.connection.prepare_cached(
            "SELECT id, time_ms, time, data, confirmable, sequence, decoded, decode_error
             FROM ctiot_uplinks
             WHERE flavour = ?1 AND imei = ?2 AND id < ?3 ORDER BY id DESC LIMIT ?4",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut rows = statement.query(params![
            flavour.as_str(),
            imei,
            before.unwrap_or(i64::MAX),
            limit
        ])?;
        let mut uplinks = Vec::new();
        while let Some(row) = rows.next()? {
            uplinks.push(Uplink {
                id: row.get(0)?,
                flavour,
                imei: imei.to_string(),
                time_ms: from_sql(row.get(1)?),
                time: row.get(2)?,
                data: row.get(3)?,
                confirmable: row.get(4)?,
                sequence: row.get(5)?,
                decoded: json_value(row.get(6)?)?,
                decode_error: row.get(7)?,
            });
        }
        Ok(uplinks)
    }

    /// How many uplinks a platform stored from a device.
    pub fn uplink_count(&self, flavour: Flavour, imei: &str) -> Result<u64, StoreError> {
        let count: i64 = self
            .connection
            .prepare_cached("SELECT COUNT(*) FROM ctiot_uplinks WHERE flavour = ?1 AND imei = ?2")?
            .query_row(params![flavour.as_str(), imei], |row| row.get(0))?;
        Ok(count as u64)
    }

    /// Downlinks: of one device (newest first), or every one still pending (not sent yet, or a
    /// command waiting for its response).
    pub fn downlinks(&self, device: Option<(Flavour, &str)>) -> Result<Vec<Downlink>, StoreError> {
        let columns =
            "id, flavour, imei, data, status, queued_ms, updated_ms, attempts, command, response";
        let (sql, values): (String, Vec<String>) = match device {
            Some((flavour, imei)) => (
                format!(
                    "SELECT {columns} FROM ctiot_downlinks WHERE flavour = ?1 AND imei = ?2
                     ORDER BY id DESC"
                ),
                vec![flavour.as_str().into(), imei.into()],
            ),
            None => (
                format!(
                    "SELECT {columns} FROM ctiot_downlinks WHERE status IN ('queued', 'sent')
                     OR (status = 'delivered' AND command IS NOT NULL) ORDER BY id"
                ),
                Vec::new(),
            ),
        };
        let mut statement = self.connection.prepare(&sql)?;
        let mut rows = statement.query(rusqlite::params_from_iter(values))?;
        let mut downlinks = Vec::new();
        while let Some(row) = rows.next()? {
            downlinks.push(Downlink {
                id: from_sql(row.get(0)?),
                flavour: flavour(row, 1)?,
                imei: row.get(2)?,
                data: row.get(3)?,
                status: row
                    .get::<_, String>(4)?
                    .parse::<DownlinkStatus>()
                    .map_err(corrupt)?,
                queued_ms: from_sql(row.get(5)?),
                updated_ms: from_sql(row.get(6)?),
                attempts: row.get(7)?,
                command: json_value(row.get(8)?)?,
                response: json_value(row.get(9)?)?,
            });
        }
        Ok(downlinks)
    }

    /// One downlink by id.
    pub fn downlink(&self, id: u64) -> Result<Option<Downlink>, StoreError> {
        let mut statement = self
            .connection
            .prepare_cached("SELECT flavour, imei FROM ctiot_downlinks WHERE id = ?1")?;
        let mut rows = statement.query(params![sql_ms(id)])?;
        let Some(row) = rows.next()? else {
            return Ok(None);
        };
        let (flavour, imei): (Flavour, String) = (flavour(row, 0)?, row.get(1)?);
        Ok(self
            .downlinks(Some((flavour, &imei)))?
            .into_iter()
            .find(|d| d.id == id))
    }

    /// The largest downlink id given so far.
    pub fn last_downlink_id(&self) -> Result<u64, StoreError> {
        let last: Option<i64> =
            self.connection
                .query_row("SELECT MAX(id) FROM ctiot_downlinks", [], |row| row.get(0))?;
        Ok(last.map_or(0, from_sql))
    }

    /// The firmware packages, with their bytes.
    pub fn fota_packages(&self) -> Result<Vec<Package>, StoreError> {
        let mut statement = self
            .connection
            .prepare("SELECT meta, bytes FROM ctiot_fota_packages ORDER BY flavour, id")?;
        let mut rows = statement.query([])?;
        let mut packages = Vec::new();
        while let Some(row) = rows.next()? {
            let mut package: Package =
                serde_json::from_str(&row.get::<_, String>(0)?).map_err(corrupt)?;
            package.bytes = std::sync::Arc::new(row.get(1)?);
            packages.push(package);
        }
        Ok(packages)
    }

    /// The rows of a table of JSON bodies (upgrade tasks, upgrades).
    fn bodies<T: serde::de::DeserializeOwned>(&self, table: &str) -> Result<Vec<T>, StoreError> {
        let mut statement = self
            .connection
            .prepare(&format!("SELECT body FROM {table} ORDER BY rowid"))?;
        let mut rows = statement.query([])?;
        let mut values = Vec::new();
        while let Some(row) = rows.next()? {
            values.push(serde_json::from_str(&row.get::<_, String>(0)?).map_err(corrupt)?);
        }
        Ok(values)
    }

    pub fn fota_tasks(&self) -> Result<Vec<Task>, StoreError> {
        self.bodies("ctiot_fota_tasks")
    }

    pub fn fota_upgrades(&self) -> Result<Vec<Upgrade>, StoreError> {
        self.bodies("ctiot_fota_upgrades")
    }

    /// What the CT IoT platforms start from.
    pub fn ctiot_state(&self) -> Result<nbmodem_standin::ctiot::CtIotState, StoreError> {
        let mut state = nbmodem_standin::ctiot::CtIotState::load(
            self.ctiot_products()?,
            self.ctiot_devices()?,
            self.downlinks(None)?,
            self.last_downlink_id()?,
        );
        state.load_fota(
            self.fota_packages()?,
            self.fota_tasks()?,
            self.fota_upgrades()?,
        );
        state.load_keys(self.fota_keys()?);
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nbmodem_standin::ctiot::CodecChoice;

    fn device(imei: &str) -> Device {
        Device {
            flavour: Flavour::Iot,
            imei: imei.into(),
            psk: Some("00112233".into()),
            product: None,
            reply: true,
        }
    }

    #[test]
    fn products_devices_uplinks_and_downlinks_come_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let uplink = |n: u32| Uplink {
            id: 0,
            flavour: Flavour::Iot,
            imei: "865975030000001".into(),
            time_ms: 1000 + u64::from(n),
            time: "t".into(),
            data: vec![n as u8],
            confirmable: n.is_multiple_of(2),
            sequence: n,
            decoded: None,
            decode_error: None,
        };
        let downlink = Downlink {
            id: 7,
            flavour: Flavour::Iot,
            imei: "865975030000001".into(),
            data: vec![0xAA, 0xAA, 0x00, 0x00],
            status: DownlinkStatus::Sent,
            queued_ms: 1,
            updated_ms: 2,
            attempts: 1,
            command: None,
            response: None,
        };
        let product = Product {
            flavour: Flavour::Aep,
            id: "p1".into(),
            profile: serde_json::json!({"model": "BC260Y"}),
            codec: CodecChoice::Script {
                script: "function decode(b) {}".into(),
            },
        };
        let mut writes = vec![
            Write::Product(product.clone()),
            Write::CtIotDevice(device("865975030000001")),
            Write::CtIotDevice(device("865975030000002")),
            Write::Downlink(downlink.clone()),
        ];
        writes.extend((0..5).map(|n| Write::Uplink(uplink(n))));
        store.write_all(&writes, u64::MAX).unwrap();
        assert_eq!(store.ctiot_products().unwrap(), [product]);
        assert_eq!(store.ctiot_devices().unwrap().len(), 2);
        let page = store
            .uplinks(Flavour::Iot, "865975030000001", None, 2)
            .unwrap();
        let sequences: Vec<u32> = page.iter().map(|u| u.sequence).collect();
        assert_eq!(sequences, [4, 3], "newest first");
        let next = store
            .uplinks(Flavour::Iot, "865975030000001", Some(page[1].id), 10)
            .unwrap();
        assert_eq!(
            next.iter().map(|u| u.sequence).collect::<Vec<_>>(),
            [2, 1, 0]
        );
        assert_eq!(store.downlink(7).unwrap(), Some(downlink.clone()));
        assert_eq!(store.downlinks(None).unwrap(), [downlink]);
        assert_eq!(store.last_downlink_id().unwrap(), 7);
        store
            .write_all(
                &[Write::RemoveCtIotDevice(
                    Flavour::Iot,
                    "865975030000001".into(),
                )],
                u64::MAX,
            )
            .unwrap();
        assert_eq!(store.ctiot_devices().unwrap().len(), 1);
        assert_eq!(store.downlink(7).unwrap(), None);
        let state = store.ctiot_state().unwrap();
        assert!(state.device(Flavour::Iot, "865975030000002").is_some());
    }

    #[test]
    fn a_downlinks_states_in_one_commit_end_in_its_last() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let downlink = |id: u64, status: DownlinkStatus, updated_ms: u64| Downlink {
            id,
            flavour: Flavour::Iot,
            imei: "865975030000001".into(),
            data: vec![0xAA, 0xAA, 0x00, 0x00],
            status,
            queued_ms: 1,
            updated_ms,
            attempts: 1,
            command: None,
            response: None,
        };
        let writes = [
            Write::CtIotDevice(device("865975030000001")),
            Write::Downlink(downlink(1, DownlinkStatus::Queued, 1)),
            Write::Downlink(downlink(2, DownlinkStatus::Queued, 1)),
            Write::Downlink(downlink(1, DownlinkStatus::Sent, 2)),
            Write::Downlink(downlink(1, DownlinkStatus::Delivered, 3)),
        ];
        let written: Vec<bool> = crate::superseded(&writes).iter().map(|m| !m).collect();
        assert_eq!(written, [true, false, true, false, true]);
        store.write_all(&writes, u64::MAX).unwrap();
        assert_eq!(
            store
                .downlinks(Some((Flavour::Iot, "865975030000001")))
                .unwrap(),
            [
                downlink(2, DownlinkStatus::Queued, 1),
                downlink(1, DownlinkStatus::Delivered, 3)
            ]
        );
    }

    #[test]
    fn packages_tasks_and_upgrades_come_back_and_a_row_is_replaced() {
        use nbmodem_standin::ctiot::fota::{TaskStyle, UpgradeStatus};
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let package = Package {
            flavour: Flavour::Iot,
            id: "p1".into(),
            version: "B".into(),
            source: "A".into(),
            manufacturer: "m".into(),
            device_type: "d".into(),
            model: "x".into(),
            protocol: "CoAP".into(),
            size: 3,
            uri: Some("http://h/p1".into()),
            bytes: std::sync::Arc::new(vec![1, 2, 3]),
        };
        let task = Task {
            flavour: Flavour::Iot,
            id: "t1".into(),
            name: "t1".into(),
            style: TaskStyle::Batch {
                group: "DFOTA".into(),
            },
            package: "p1".into(),
            devices: vec!["865975030000001".into()],
            retries: 2,
            retry_after_s: 60,
            max_concurrent: 1,
            started: true,
        };
        let waiting = Upgrade::new(Flavour::Iot, "t1", "865975030000001");
        let mut failed = waiting.clone();
        failed.status = UpgradeStatus::Failed;
        failed.result = Some(5);
        let other = Upgrade::new(Flavour::Aep, "t1", "865975030000001");
        let writes = [
            Write::FotaPackage(package.clone()),
            Write::FotaTask(task.clone()),
            Write::FotaUpgrade(waiting),
            Write::FotaUpgrade(other.clone()),
            Write::FotaUpgrade(failed.clone()),
        ];
        store.write_all(&writes, u64::MAX).unwrap();
        let packages = store.fota_packages().unwrap();
        assert_eq!(packages, std::slice::from_ref(&package));
        assert_eq!(packages[0].bytes, package.bytes);
        assert_eq!(store.fota_tasks().unwrap(), [task]);
        assert_eq!(store.fota_upgrades().unwrap(), [other, failed]);
    }
}
