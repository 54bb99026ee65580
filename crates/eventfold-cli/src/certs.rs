//! `eventfold certs`: development certificates for secure mode, a CA and
//! node certificates it signs, with the option names of KurrentDB's
//! certificate generator. ECDSA P-256 keys; key files are readable by their
//! owner only. Nothing is written when anything is wrong, and an existing
//! file is only replaced with `--force`.

use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PublicKeyData, SanType, SerialNumber,
};

#[derive(clap::Args)]
pub struct CertsArgs {
    #[command(subcommand)]
    command: CertsCommand,
}

#[derive(clap::Subcommand)]
enum CertsCommand {
    /// Create a certificate authority: `ca.crt` and `ca.key` in --out.
    CreateCa(CreateCaArgs),
    /// Create a node certificate signed by the CA: `node.crt` and
    /// `node.key` in --out.
    CreateNode(CreateNodeArgs),
}

#[derive(clap::Args)]
struct CreateCaArgs {
    /// Directory to write `ca.crt` and `ca.key` to (created if missing).
    #[arg(long, default_value = "./ca")]
    out: PathBuf,
    /// Days the certificate is valid for.
    #[arg(long, default_value_t = 1825, value_parser = clap::value_parser!(u32).range(1..=36_500))]
    days: u32,
    /// The CA's common name (by default `eventfold development CA` and a
    /// few hexadecimal digits of its serial number, so that two CAs never
    /// share a name and clients tell them apart).
    #[arg(long)]
    common_name: Option<String>,
    /// Replace existing files.
    #[arg(long)]
    force: bool,
}

#[derive(clap::Args)]
struct CreateNodeArgs {
    /// The CA certificate (PEM) that signs the node's.
    #[arg(long, default_value = "./ca/ca.crt")]
    ca_certificate: PathBuf,
    /// The CA's private key (PEM).
    #[arg(long, default_value = "./ca/ca.key")]
    ca_key: PathBuf,
    /// Directory to write `node.crt` and `node.key` to (created if missing).
    #[arg(long, default_value = "./node")]
    out: PathBuf,
    /// IP addresses clients reach the node on, comma-separated.
    #[arg(long, value_delimiter = ',')]
    ip_addresses: Vec<IpAddr>,
    /// Host names clients reach the node by, comma-separated. Without any
    /// --ip-addresses or --dns-names: `localhost` and 127.0.0.1.
    #[arg(long, value_delimiter = ',')]
    dns_names: Vec<String>,
    /// Days the certificate is valid for.
    #[arg(long, default_value_t = 365, value_parser = clap::value_parser!(u32).range(1..=36_500))]
    days: u32,
    /// The node certificate's common name.
    #[arg(long, default_value = "eventfold-node")]
    common_name: String,
    /// Replace existing files.
    #[arg(long)]
    force: bool,
}

pub fn run(args: CertsArgs) -> anyhow::Result<()> {
    match args.command {
        CertsCommand::CreateCa(args) => create_ca(&args),
        CertsCommand::CreateNode(args) => create_node(args),
    }
}

fn create_ca(args: &CreateCaArgs) -> anyhow::Result<()> {
    let outputs = Outputs::new(&args.out, "ca", args.force)?;
    let key = KeyPair::generate().context("generating the CA's key")?;
    let serial = random_serial();
    let common_name = match &args.common_name {
        Some(name) => name.clone(),
        None => {
            let digits: String = serial.iter().take(4).map(|byte| format!("{byte:02x}")).collect();
            format!("eventfold development CA {digits}")
        }
    };
    let mut params = base_params(&common_name, serial, args.days);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let certificate = params.self_signed(&key).context("signing the CA certificate")?;
    outputs.write(&certificate.pem(), &key.serialize_pem())
}

fn create_node(mut args: CreateNodeArgs) -> anyhow::Result<()> {
    let outputs = Outputs::new(&args.out, "node", args.force)?;
    let ca_certificate = read_text(&args.ca_certificate)?;
    let ca_key = KeyPair::from_pem(&read_text(&args.ca_key)?)
        .with_context(|| format!("{} does not hold a usable private key", args.ca_key.display()))?;
    check_key_matches(&ca_certificate, &args.ca_certificate, &ca_key, &args.ca_key)?;
    let issuer = Issuer::from_ca_cert_pem(&ca_certificate, ca_key)
        .with_context(|| format!("{} is not a CA certificate eventfold can read", args.ca_certificate.display()))?;
    if args.ip_addresses.is_empty() && args.dns_names.is_empty() {
        args.dns_names.push("localhost".to_owned());
        args.ip_addresses.push(IpAddr::from([127, 0, 0, 1]));
    }
    let mut params = base_params(&args.common_name, random_serial(), args.days);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    // Client authentication too: KurrentDB's nodes present theirs to each
    // other, and tools expect the same certificate to do both.
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    for name in &args.dns_names {
        let name = name.clone().try_into().with_context(|| format!("`{name}` is not a valid DNS name"))?;
        params.subject_alt_names.push(SanType::DnsName(name));
    }
    params.subject_alt_names.extend(args.ip_addresses.iter().copied().map(SanType::IpAddress));
    let key = KeyPair::generate().context("generating the node's key")?;
    let certificate = params.signed_by(&key, &issuer).context("signing the node certificate")?;
    outputs.write(&certificate.pem(), &key.serialize_pem())
}

/// What both certificates share: the subject, the serial number, and a
/// validity that starts a little in the past, so that a machine whose clock
/// is slightly behind accepts it at once.
fn base_params(common_name: &str, serial: [u8; 16], days: u32) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut subject = DistinguishedName::new();
    subject.push(DnType::CommonName, common_name);
    params.distinguished_name = subject;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::minutes(5);
    params.not_after = now + time::Duration::days(i64::from(days));
    params
}

/// 127 random bits: a serial number is a positive integer, so the top bit
/// stays clear.
fn random_serial() -> [u8; 16] {
    let mut serial = *uuid::Uuid::new_v4().as_bytes();
    if let Some(first) = serial.first_mut() {
        *first &= 0x7f;
    }
    serial
}

/// Refuses a CA key that is not the CA certificate's: the node certificate
/// it signed would be rejected by every client.
fn check_key_matches(
    certificate_pem: &str,
    certificate_path: &Path,
    key: &KeyPair,
    key_path: &Path,
) -> anyhow::Result<()> {
    let not_certificate = || format!("{} holds no PEM certificate", certificate_path.display());
    let (_, pem) = x509_parser::pem::parse_x509_pem(certificate_pem.as_bytes()).ok().with_context(not_certificate)?;
    let certificate = pem.parse_x509().ok().with_context(not_certificate)?;
    if certificate.tbs_certificate.subject_pki.raw != key.subject_public_key_info().as_slice() {
        bail!(
            "the key in {} does not belong to the CA certificate in {}",
            key_path.display(),
            certificate_path.display()
        );
    }
    Ok(())
}

fn read_text(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// The certificate and key files one command writes, checked before either
/// is written.
struct Outputs {
    certificate: PathBuf,
    key: PathBuf,
    force: bool,
}

impl Outputs {
    fn new(directory: &Path, name: &str, force: bool) -> anyhow::Result<Self> {
        let outputs = Self {
            certificate: directory.join(format!("{name}.crt")),
            key: directory.join(format!("{name}.key")),
            force,
        };
        if !force {
            for path in [&outputs.certificate, &outputs.key] {
                if path.symlink_metadata().is_ok() {
                    bail!("{} already exists; pass --force to replace it", path.display());
                }
            }
        }
        Ok(outputs)
    }

    fn write(&self, certificate: &str, key: &str) -> anyhow::Result<()> {
        if let Some(directory) = self.key.parent() {
            std::fs::create_dir_all(directory).with_context(|| format!("creating {}", directory.display()))?;
        }
        // The key first: a certificate without its key is of no use.
        write_file(&self.key, key, 0o600, self.force)?;
        write_file(&self.certificate, certificate, 0o644, self.force)?;
        println!("{}\n{}", self.certificate.display(), self.key.display());
        Ok(())
    }
}

/// Writes `text` to a new file created with `mode` (a replaced file is
/// removed first, so that it never keeps wider permissions than `mode`).
fn write_file(path: &Path, text: &str, mode: u32, replace: bool) -> anyhow::Result<()> {
    if replace {
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(error).with_context(|| format!("replacing {}", path.display())),
        }
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(text.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
    file.sync_all().with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
