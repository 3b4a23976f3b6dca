use super::*;

const PURPOSE: &str = "intake.petitioners.id_number";
const CLEAR: &str = "11010519491231002X";

fn keyring(algorithm: Algorithm) -> Keyring {
    Keyring::of(&KeyFile::generate(algorithm).expect("generate")).expect("keyring")
}

#[test]
fn sealed_values_open_to_what_was_sealed_with_either_algorithm() {
    for algorithm in [Algorithm::Aes256Gcm, Algorithm::Sm4Gcm] {
        let keys = keyring(algorithm);
        let sealed = keys.seal(PURPOSE, CLEAR).expect("seal");
        assert!(sealed.starts_with("v1:"), "{sealed}");
        assert!(!sealed.contains(CLEAR));
        assert_eq!(keys.open(PURPOSE, &sealed).expect("open"), CLEAR);
        let name = keys
            .seal("intake.petitioners.name", "欧阳测试")
            .expect("seal");
        assert_eq!(
            keys.open("intake.petitioners.name", &name).expect("open"),
            "欧阳测试"
        );
    }
}

#[test]
fn each_sealing_takes_a_fresh_nonce() {
    let keys = keyring(Algorithm::Aes256Gcm);
    assert_ne!(
        keys.seal(PURPOSE, CLEAR).expect("seal"),
        keys.seal(PURPOSE, CLEAR).expect("seal")
    );
}

#[test]
fn a_value_moved_to_another_column_does_not_open() {
    for algorithm in [Algorithm::Aes256Gcm, Algorithm::Sm4Gcm] {
        let keys = keyring(algorithm);
        let sealed = keys.seal(PURPOSE, CLEAR).expect("seal");
        let err = keys
            .open("intake.petitioners.phone", &sealed)
            .expect_err("wrong purpose");
        assert!(matches!(err, SealError::Tampered(_)), "{err}");
    }
}

#[test]
fn an_altered_value_does_not_open() {
    for algorithm in [Algorithm::Aes256Gcm, Algorithm::Sm4Gcm] {
        let keys = keyring(algorithm);
        let sealed = keys.seal(PURPOSE, CLEAR).expect("seal");
        let (prefix, body) = sealed.split_at(3);
        let mut bytes = BASE64.decode(body).expect("base64");
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let altered = format!("{prefix}{}", BASE64.encode(&bytes));
        assert!(matches!(
            keys.open(PURPOSE, &altered),
            Err(SealError::Tampered(_))
        ));
        assert!(keys.open(PURPOSE, "v1:AAAA").is_err(), "too short");
        assert!(keys.open(PURPOSE, "v1:%%%").is_err(), "not base64");
    }
}

#[test]
fn a_value_sealed_under_another_key_file_does_not_open() {
    let sealed = keyring(Algorithm::Aes256Gcm)
        .seal(PURPOSE, CLEAR)
        .expect("seal");
    assert!(
        keyring(Algorithm::Aes256Gcm)
            .open(PURPOSE, &sealed)
            .is_err()
    );
}

#[test]
fn legacy_clear_text_opens_as_it_is_and_empty_stays_empty() {
    let keys = keyring(Algorithm::Aes256Gcm);
    for clear in [CLEAR, "王某", "+86-138-0000-0000", "v", "v1", "v:x", "vx:y"] {
        assert_eq!(keys.open(PURPOSE, clear).expect("open"), clear);
        assert!(!keys.is_current(clear));
    }
    assert_eq!(keys.seal(PURPOSE, "").expect("seal"), "");
    assert_eq!(keys.open(PURPOSE, "").expect("open"), "");
    assert_eq!(keys.reseal(PURPOSE, "").expect("reseal"), None);
}

#[test]
fn rotation_keeps_old_values_readable_and_reseal_moves_them_to_the_new_version() {
    let mut file = KeyFile::generate(Algorithm::Sm4Gcm).expect("generate");
    let old = Keyring::of(&file).expect("keyring");
    let sealed = old.seal(PURPOSE, CLEAR).expect("seal");
    assert_eq!(file.rotate().expect("rotate"), 2);
    let new = Keyring::of(&file).expect("keyring");
    assert!(!new.is_current(&sealed));
    assert_eq!(new.open(PURPOSE, &sealed).expect("old value"), CLEAR);
    let moved = new
        .reseal(PURPOSE, &sealed)
        .expect("reseal")
        .expect("moved");
    assert!(moved.starts_with("v2:") && new.is_current(&moved));
    assert_eq!(new.open(PURPOSE, &moved).expect("open"), CLEAR);
    assert_eq!(new.reseal(PURPOSE, &moved).expect("reseal"), None);
    let legacy = new.reseal(PURPOSE, CLEAR).expect("reseal").expect("sealed");
    assert!(legacy.starts_with("v2:"));
}

#[test]
fn a_running_keyring_reads_its_file_again_for_a_version_it_does_not_know() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("keys/data.json");
    let mut file = KeyFile::generate(Algorithm::Aes256Gcm).expect("generate");
    file.create(&path).expect("write");
    let running = Keyring::load(&path).expect("load");
    assert_eq!(running.current_version(), 1);

    file.rotate().expect("rotate");
    file.replace(&path).expect("replace");
    let rotator = Keyring::load(&path).expect("load");
    let sealed = rotator.seal(PURPOSE, CLEAR).expect("seal");
    assert!(sealed.starts_with("v2:"));

    assert_eq!(running.open(PURPOSE, &sealed).expect("reloads"), CLEAR);
    assert_eq!(running.current_version(), 2);
    assert!(matches!(
        running.open(PURPOSE, "v9:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        Err(SealError::UnknownVersion(9))
    ));
}

#[test]
fn keyed_hash_is_stable_and_depends_on_key_and_algorithm() {
    let sha = KeyedHash::new(Algorithm::Aes256Gcm, b"k");
    let sm3 = KeyedHash::new(Algorithm::Sm4Gcm, b"k");
    let hash = sha.hex(CLEAR.as_bytes());
    assert_eq!(hash.len(), 64);
    assert_eq!(hash, sha.hex(CLEAR.as_bytes()));
    assert_ne!(
        hash,
        KeyedHash::new(Algorithm::Aes256Gcm, b"other").hex(CLEAR.as_bytes())
    );
    assert_ne!(hash, sm3.hex(CLEAR.as_bytes()));
    assert_eq!(sm3.hex(CLEAR.as_bytes()).len(), 64);
    // RFC 4231 test case 2: HMAC-SHA256("Jefe", "what do ya want for nothing?").
    assert_eq!(
        KeyedHash::new(Algorithm::Aes256Gcm, b"Jefe").hex(b"what do ya want for nothing?"),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
    let keys = keyring(Algorithm::Aes256Gcm);
    assert_eq!(keys.keyed_hash().hex(b"x"), keys.keyed_hash().hex(b"x"));
    assert_ne!(
        keys.keyed_hash().hex(b"x"),
        keyring(Algorithm::Aes256Gcm).keyed_hash().hex(b"x")
    );
}

#[test]
fn a_key_file_is_written_for_its_owner_only_and_never_overwritten() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("data.json");
    let file = KeyFile::generate(Algorithm::Sm4Gcm).expect("generate");
    file.create(&path).expect("write");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o077, 0, "readable by others");
    }
    let err = file.create(&path).expect_err("refuses to overwrite");
    assert!(err.to_string().contains("already exists"), "{err}");
    let (read, _) = KeyFile::read(&path).expect("read");
    assert_eq!(read.algorithm, Algorithm::Sm4Gcm);
    assert_eq!(read.keys[0].key, file.keys[0].key);
    assert!(!format!("{read:?}").contains(&read.keys[0].key));
}

#[test]
fn a_missing_or_broken_key_file_is_named_in_the_error() {
    let dir = tempfile::tempdir().expect("dir");
    let missing = dir.path().join("missing.json");
    let err = Keyring::load(&missing).expect_err("missing");
    assert!(err.to_string().contains("missing.json"), "{err}");

    let broken = dir.path().join("broken.json");
    std::fs::write(
        &broken,
        r#"{"algorithm":"aes-256-gcm","current":1,"keys":"c2VjcmV0","lookup_key":""}"#,
    )
    .expect("write");
    let err = Keyring::load(&broken).expect_err("broken").to_string();
    assert!(err.contains("broken.json"), "{err}");
    assert!(
        !err.contains("c2VjcmV0"),
        "the error quotes key material: {err}"
    );

    let mut file = KeyFile::generate(Algorithm::Aes256Gcm).expect("generate");
    file.current = 7;
    let wrong = dir.path().join("wrong.json");
    std::fs::write(&wrong, serde_json::to_string(&file).expect("json")).expect("write");
    let err = Keyring::load(&wrong).expect_err("no current").to_string();
    assert!(
        err.contains("wrong.json") && err.contains("current version 7"),
        "{err}"
    );

    let config = SecurityConfig {
        data_key_file: None,
        algorithm: Algorithm::Aes256Gcm,
    };
    assert!(
        config
            .keyring()
            .expect_err("unset")
            .to_string()
            .contains("security.data_key_file")
    );
}

#[test]
fn a_key_file_of_another_algorithm_than_the_settings_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("data.json");
    KeyFile::generate(Algorithm::Aes256Gcm)
        .expect("generate")
        .create(&path)
        .expect("write");
    let config = SecurityConfig {
        data_key_file: Some(path),
        algorithm: Algorithm::Sm4Gcm,
    };
    let err = config.keyring().expect_err("mismatch").to_string();
    assert!(
        err.contains("sm4-gcm") && err.contains("aes-256-gcm"),
        "{err}"
    );
}

#[test]
fn a_process_without_keys_refuses_to_seal_and_still_reads_clear_text() {
    let keys = Keyring::without_keys();
    assert!(matches!(keys.seal(PURPOSE, CLEAR), Err(SealError::NoKeys)));
    assert_eq!(keys.open(PURPOSE, CLEAR).expect("clear"), CLEAR);
    assert!(
        keys.open(PURPOSE, "v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
            .is_err()
    );
}
