//! `fleet provision`: a product, devices, and one certificate per device, through the API.

use std::path::{Path, PathBuf};
use std::time::Instant;

use futures::stream::{self, StreamExt, TryStreamExt};
use rcgen::{KeyPair, RsaKeySize, PKCS_ECDSA_P256_SHA256, PKCS_RSA_SHA256};
use serde_json::{json, Value};

use crate::error::FleetError;
use crate::fleet_file::{write_file, Fleet, FleetDevice, Kind};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The mock's HTTP base URL, e.g. http://127.0.0.1:8080
    #[arg(long)]
    api: String,
    /// Where fleet.json and the PEM files go.
    #[arg(long)]
    out: PathBuf,
    /// Devices with an RSA-2048 key and certificate.
    #[arg(long, default_value_t = 0)]
    rsa: usize,
    /// Devices with a P-256 key and certificate.
    #[arg(long, default_value_t = 0)]
    ecc: usize,
    /// Where device keys are kept between runs (`rsa-keys.pem`, `ecc-keys.pem`).
    #[arg(long)]
    key_cache: Option<PathBuf>,
    #[arg(long, default_value = "o15444172373271")]
    org: String,
    /// assetId and deviceKey are `{prefix}{i}`.
    #[arg(long, default_value = "fleet")]
    prefix: String,
    /// API calls in flight.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Sent as `apim-accesstoken` (the mock's lenient gateway takes any token).
    #[arg(long, default_value = "fleet-token")]
    token: String,
}

struct Api {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Api {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, FleetError> {
        let text = self.text(method, path, body).await?;
        serde_json::from_str(&text).map_err(|e| FleetError::Refused {
            call: path.to_string(),
            status: 200,
            body: format!("not JSON ({e}): {text}"),
        })
    }

    async fn text(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<String, FleetError> {
        let http_error = |source| FleetError::Http {
            call: path.to_string(),
            source,
        };
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("apim-accesstoken", &self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(http_error)?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(http_error)?;
        if status != 200 {
            return Err(FleetError::Refused {
                call: path.to_string(),
                status,
                body: text,
            });
        }
        Ok(text)
    }

    /// An EnOS call that must answer code 0; its `data`.
    async fn enos(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, FleetError> {
        let answer = self.call(method, path, body).await?;
        if answer["code"] != 0 {
            return Err(FleetError::Refused {
                call: path.to_string(),
                status: 200,
                body: answer.to_string(),
            });
        }
        Ok(answer["data"].clone())
    }
}

/// `n` keys of `kind`: from the cache file, topped up with new ones (generated on every core).
fn keys(kind: Kind, n: usize, cache: Option<&Path>) -> Result<Vec<String>, FleetError> {
    let file = cache.map(|dir| dir.join(format!("{}-keys.pem", kind.as_str().to_lowercase())));
    let mut pems: Vec<String> = match &file {
        Some(f) if f.exists() => {
            let text = std::fs::read_to_string(f).map_err(|source| FleetError::Read {
                path: f.clone(),
                source,
            })?;
            pem::parse_many(&text)
                .map_err(|e| FleetError::Key {
                    what: f.display().to_string(),
                    detail: e.to_string(),
                })?
                .iter()
                .map(pem::encode)
                .collect()
        }
        _ => Vec::new(),
    };
    if pems.len() < n {
        let missing = n - pems.len();
        let started = Instant::now();
        eprintln!("fleet: generating {missing} {} keys", kind.as_str());
        let fresh = parallel(missing, || {
            match kind {
                Kind::Rsa => KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_2048),
                Kind::Ecc => KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256),
            }
            .map(|k| k.serialize_pem())
        });
        for key in fresh {
            pems.push(key.map_err(|e| FleetError::Key {
                what: format!("{} key generation", kind.as_str()),
                detail: e.to_string(),
            })?);
        }
        eprintln!(
            "fleet: {missing} {} keys in {:.1?}",
            kind.as_str(),
            started.elapsed()
        );
        if let Some(f) = &file {
            if let Some(dir) = f.parent() {
                std::fs::create_dir_all(dir).map_err(|source| FleetError::Write {
                    path: dir.to_path_buf(),
                    source,
                })?;
            }
            write_file(f, pems.concat().as_bytes())?;
        }
    }
    pems.truncate(n);
    Ok(pems)
}

/// `n` results of `f` made on every core (RSA key generation varies tenfold in time, so each
/// thread takes the next one as it finishes rather than a fixed share).
fn parallel<T: Send>(n: usize, f: impl Fn() -> T + Sync) -> Vec<T> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut made = Vec::new();
                    while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < n {
                        made.push(f());
                    }
                    made
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("a key thread panicked"))
            .collect()
    })
}

pub async fn provision(args: Args) -> Result<(), FleetError> {
    let total = args.rsa + args.ecc;
    if total == 0 {
        return Err(FleetError::Usage(
            "nothing to provision: give --rsa and/or --ecc".into(),
        ));
    }
    std::fs::create_dir_all(&args.out).map_err(|source| FleetError::Write {
        path: args.out.clone(),
        source,
    })?;
    let started = Instant::now();
    let kinds: Vec<Kind> = std::iter::repeat_n(Kind::Rsa, args.rsa)
        .chain(std::iter::repeat_n(Kind::Ecc, args.ecc))
        .collect();
    let cache = args.key_cache.as_deref();
    let (rsa_keys, ecc_keys) = (
        keys(Kind::Rsa, args.rsa, cache)?,
        keys(Kind::Ecc, args.ecc, cache)?,
    );
    let key_pems: Vec<String> = rsa_keys.into_iter().chain(ecc_keys).collect();

    let api = Api {
        base: args.api.trim_end_matches('/').to_string(),
        token: args.token.clone(),
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(args.concurrency)
            .build()
            .map_err(|source| FleetError::Http {
                call: "client".into(),
                source,
            })?,
    };
    let org = &args.org;
    let product = api
        .enos(
            reqwest::Method::POST,
            &format!("/connect-service/v2.1/products?action=create&orgId={org}"),
            Some(json!({
                "productName": {"defaultValue": "Fleet"},
                "productType": "Device",
                "dataFormat": "Json",
                "modelId": "fleet",
                "biDirectionalAuth": true,
                "maxValidDay": 3650,
            })),
        )
        .await?;
    let product_key = product
        .as_str()
        .or_else(|| product["productKey"].as_str())
        .unwrap_or_default()
        .to_string();
    let bulk = api
        .call(
            reqwest::Method::POST,
            "/__admin/bulk/devices",
            Some(json!({"orgId": org, "productKey": product_key, "count": total, "prefix": args.prefix})),
        )
        .await?;
    eprintln!("fleet: product {product_key}, {} devices ({bulk})", total);

    let done = std::sync::atomic::AtomicUsize::new(0);
    let devices: Vec<FleetDevice> = stream::iter(kinds.iter().zip(key_pems).enumerate())
        .map(|(i, (kind, key_pem))| {
            let (api, done) = (&api, &done);
            let asset_id = format!("{}{i}", args.prefix);
            async move {
                let device = api
                    .enos(
                        reqwest::Method::GET,
                        &format!("/connect-service/v2.1/devices?action=get&orgId={org}&assetId={asset_id}"),
                        None,
                    )
                    .await?;
                let key = KeyPair::from_pem(&key_pem).map_err(|e| FleetError::Key {
                    what: format!("the cached key of {asset_id}"),
                    detail: e.to_string(),
                })?;
                let csr = enos_cert_mock::enos_csr(&key, &asset_id);
                let cert = api
                    .enos(
                        reqwest::Method::POST,
                        &format!("/connect-service/v2.0/certificates?action=apply&orgId={org}&assetId={asset_id}"),
                        Some(json!({"csr": csr, "issueAuthority": kind.as_str()})),
                    )
                    .await?;
                let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                if n % 1000 == 0 {
                    eprintln!("fleet: {n} certificates");
                }
                let field = |v: &Value, k: &str| v[k].as_str().unwrap_or_default().to_string();
                Ok::<_, FleetError>(FleetDevice {
                    product_key: field(&device, "productKey"),
                    device_key: field(&device, "deviceKey"),
                    device_secret: field(&device, "deviceSecret"),
                    kind: *kind,
                    cert_sn: field(&cert, "certSN"),
                    cert: field(&cert, "cert"),
                    key: key_pem,
                    asset_id,
                })
            }
        })
        .buffered(args.concurrency.max(1))
        .try_collect()
        .await?;

    let get = |path: String| {
        let api = &api;
        async move { api.text(reqwest::Method::GET, &path, None).await }
    };
    let root = |kind: &str| get(format!("/enos/CA/cacert/{kind}"));
    let crl = |kind: &str| get(format!("/enos/CA/crl/{kind}?format=pem"));
    let (rsa_root, ecc_root) = (root("RSA").await?, root("ECC").await?);
    let crls = format!("{}{}", crl("RSA").await?, crl("ECC").await?);
    let out = &args.out;
    write_file(&out.join("rsa-root.pem"), rsa_root.as_bytes())?;
    write_file(&out.join("ecc-root.pem"), ecc_root.as_bytes())?;
    write_file(
        &out.join("roots.pem"),
        format!("{rsa_root}{ecc_root}").as_bytes(),
    )?;
    write_file(&out.join("crls.pem"), crls.as_bytes())?;
    let fleet = Fleet {
        api: api.base.clone(),
        org_id: org.clone(),
        product_key,
        rsa_root,
        ecc_root,
        devices,
    };
    fleet.write(out)?;
    let report = json!({
        "devices": total, "rsa": args.rsa, "ecc": args.ecc,
        "productKey": fleet.product_key, "seconds": started.elapsed().as_secs_f64(),
        "out": out.display().to_string(),
    });
    println!("FLEET_PROVISIONED {report}");
    Ok(())
}
