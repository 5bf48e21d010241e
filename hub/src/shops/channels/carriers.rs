//! Carriers (快递公司): our one set of carrier codes, what each platform calls each of them, and
//! the reading of whatever a warehouse types or sends ("顺丰", "SF", "shunfeng" → [`Carrier::Sf`]).
//!
//! *Owns:* the one table [`CARRIERS`]; every mapping and every parse reads it, so a carrier is
//! added in one row. *Invariant:* every name, code and alias in the table reads back as its own
//! row's carrier and no other (tested), and a carrier a platform has no code for is an error
//! naming both, never a guess.
//!
//! Code namespaces differ per platform (reference §7.2): Taobao/Tmall take Cainiao's
//! `company_code` (`YUNDA`, `POSTB`), JD a numeric `logiCoprId` from its own list, Shopify a
//! `tracking_info.company` name (any text is accepted; a name Shopify knows gets a tracking link),
//! WooCommerce has no carrier field at all (we send our code and name). Our codes follow the
//! Kdniao codes (`YD`, `DBL`) for the Chinese carriers.

use std::fmt;
use xt_shared::order::Platform;

/// A carrier in our namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Carrier {
    Sf,
    Zto,
    Yto,
    Sto,
    Yunda,
    Ems,
    ChinaPost,
    Jd,
    Best,
    Zjs,
    Tiantian,
    Uc,
    Deppon,
    JT,
    Ups,
    Fedex,
    Dhl,
    Usps,
}

/// One carrier and its names everywhere.
pub struct CarrierRow {
    pub carrier: Carrier,
    /// Our code (Kdniao's for the Chinese carriers).
    pub code: &'static str,
    pub name_zh: &'static str,
    pub name_en: &'static str,
    /// Taobao/Tmall `company_code` (Cainiao; Qimen's `logisticsCode` is the same namespace).
    pub taobao: Option<&'static str>,
    /// JD `logiCoprId`. Unverified: the reference has no JD list (§2.6, §7.2), these ids come
    /// from integrators' code and must be checked against the shop's JD carrier list before a
    /// JD shop goes live; carriers without one are refused for JD.
    pub jd: Option<&'static str>,
    /// Shopify `tracking_info.company`.
    pub shopify: &'static str,
    /// Other spellings a warehouse may send (pinyin, Kuaidi100 codes, short names).
    pub aliases: &'static [&'static str],
}

/// Every carrier we know. Taobao codes per reference §7.2 (`DBKD` and `JTSD` there are marked
/// unverified); Kuaidi100 codes are among the aliases.
pub const CARRIERS: &[CarrierRow] = &[
    CarrierRow {
        carrier: Carrier::Sf,
        code: "SF",
        name_zh: "顺丰速运",
        name_en: "SF Express",
        taobao: Some("SF"),
        jd: Some("467"),
        shopify: "SF Express",
        aliases: &["顺丰", "顺丰快递", "shunfeng"],
    },
    CarrierRow {
        carrier: Carrier::Zto,
        code: "ZTO",
        name_zh: "中通快递",
        name_en: "ZTO Express",
        taobao: Some("ZTO"),
        jd: Some("1499"),
        shopify: "ZTO Express",
        aliases: &["中通", "zhongtong"],
    },
    CarrierRow {
        carrier: Carrier::Yto,
        code: "YTO",
        name_zh: "圆通速递",
        name_en: "YTO Express",
        taobao: Some("YTO"),
        jd: Some("463"),
        shopify: "YTO Express",
        aliases: &["圆通", "yuantong"],
    },
    CarrierRow {
        carrier: Carrier::Sto,
        code: "STO",
        name_zh: "申通快递",
        name_en: "STO Express",
        taobao: Some("STO"),
        jd: Some("470"),
        shopify: "STO Express",
        aliases: &["申通", "shentong"],
    },
    CarrierRow {
        carrier: Carrier::Yunda,
        code: "YD",
        name_zh: "韵达快递",
        name_en: "Yunda Express",
        taobao: Some("YUNDA"),
        jd: Some("1327"),
        shopify: "Yunda Express",
        aliases: &["韵达"],
    },
    CarrierRow {
        carrier: Carrier::Ems,
        code: "EMS",
        name_zh: "EMS",
        name_en: "China EMS",
        taobao: Some("EMS"),
        jd: Some("465"),
        shopify: "China EMS (ePacket)",
        aliases: &["邮政EMS", "中国邮政速递", "邮政速递", "ePacket"],
    },
    CarrierRow {
        carrier: Carrier::ChinaPost,
        code: "YZPY",
        name_zh: "邮政快递包裹",
        name_en: "China Post",
        taobao: Some("POSTB"),
        jd: None,
        shopify: "China Post",
        aliases: &["邮政", "中国邮政", "邮政包裹", "youzhengguonei"],
    },
    CarrierRow {
        carrier: Carrier::Jd,
        code: "JD",
        name_zh: "京东快递",
        name_en: "JD Logistics",
        taobao: Some("JD"),
        jd: Some("2087"),
        shopify: "JD Logistics",
        aliases: &["京东", "京东物流", "jingdong"],
    },
    CarrierRow {
        carrier: Carrier::Best,
        code: "HTKY",
        name_zh: "百世快递",
        name_en: "Best Express",
        taobao: Some("HTKY"),
        jd: None,
        shopify: "Best Express",
        aliases: &["百世", "百世汇通", "汇通", "huitongkuaidi"],
    },
    CarrierRow {
        carrier: Carrier::Zjs,
        code: "ZJS",
        name_zh: "宅急送",
        name_en: "ZJS Express",
        taobao: Some("ZJS"),
        jd: None,
        shopify: "ZJS Express",
        aliases: &["zhaijisong"],
    },
    CarrierRow {
        carrier: Carrier::Tiantian,
        code: "HHTT",
        name_zh: "天天快递",
        name_en: "TTK Express",
        taobao: Some("TTKDEX"),
        jd: None,
        shopify: "TTK Express",
        aliases: &["天天", "tiantian"],
    },
    CarrierRow {
        carrier: Carrier::Uc,
        code: "UC",
        name_zh: "优速快递",
        name_en: "UC Express",
        taobao: Some("UC"),
        jd: None,
        shopify: "UC Express",
        aliases: &["优速", "youshuwuliu"],
    },
    CarrierRow {
        carrier: Carrier::Deppon,
        code: "DBL",
        name_zh: "德邦快递",
        name_en: "Deppon Express",
        taobao: Some("DBKD"),
        jd: None,
        shopify: "Deppon Express",
        aliases: &["德邦", "德邦物流", "debangwuliu", "deppon"],
    },
    CarrierRow {
        carrier: Carrier::JT,
        code: "JTSD",
        name_zh: "极兔速递",
        name_en: "J&T Express",
        taobao: Some("JTSD"),
        jd: None,
        shopify: "J&T Express",
        aliases: &["极兔", "J&T", "jtexpress"],
    },
    CarrierRow {
        carrier: Carrier::Ups,
        code: "UPS",
        name_zh: "UPS",
        name_en: "UPS",
        taobao: None,
        jd: None,
        shopify: "UPS",
        aliases: &["United Parcel Service"],
    },
    CarrierRow {
        carrier: Carrier::Fedex,
        code: "FEDEX",
        name_zh: "联邦快递",
        name_en: "FedEx",
        taobao: None,
        jd: None,
        shopify: "FedEx",
        aliases: &["联邦"],
    },
    CarrierRow {
        carrier: Carrier::Dhl,
        code: "DHL",
        name_zh: "DHL",
        name_en: "DHL Express",
        taobao: None,
        jd: None,
        shopify: "DHL Express",
        aliases: &["敦豪"],
    },
    CarrierRow {
        carrier: Carrier::Usps,
        code: "USPS",
        name_zh: "美国邮政",
        name_en: "USPS",
        taobao: None,
        jd: None,
        shopify: "USPS",
        aliases: &["United States Postal Service"],
    },
];

/// Longest carrier text read; anything longer is not a carrier's name.
const TEXT_CHARS_MAX: usize = 64;

/// Endings a carrier's name may carry or lack ("圆通速递" / "圆通", "SF Express" / "SF").
const SUFFIXES: &[&str] = &[
    "快递",
    "速运",
    "速递",
    "物流",
    "快运",
    "express",
    "logistics",
];

impl Carrier {
    /// This carrier's row of [`CARRIERS`].
    pub fn row(self) -> &'static CarrierRow {
        CARRIERS
            .iter()
            .find(|r| r.carrier == self)
            .expect("every carrier has a row (tested)")
    }

    /// Our code, e.g. `SF`, `YD`.
    pub fn code(self) -> &'static str {
        self.row().code
    }

    /// The carrier of one of our codes, exactly (`SF`, `YD`); `None` for anything else.
    pub fn from_code(code: &str) -> Option<Carrier> {
        CARRIERS.iter().find(|r| r.code == code).map(|r| r.carrier)
    }
}

impl fmt::Display for Carrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// What one platform calls a carrier: the code its shipment call takes and a name to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlatformCarrier {
    pub carrier: Carrier,
    /// Taobao `company_code`, JD `logiCoprId`, Shopify `tracking_info.company`, WooCommerce
    /// our code.
    pub code: &'static str,
    /// The carrier's name as that platform's buyers read it (Chinese on Taobao and JD).
    pub name: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnknownCarrier {
    #[error("carrier {0:?} is not one we know")]
    Unrecognized(String),
    #[error("carrier {carrier} has no {platform} code")]
    NotOnPlatform {
        carrier: Carrier,
        platform: Platform,
    },
}

/// What `platform` calls our carrier `ours`.
pub fn carrier_for(platform: Platform, ours: Carrier) -> Result<PlatformCarrier, UnknownCarrier> {
    let row = ours.row();
    let (code, name) = match platform {
        Platform::Taobao | Platform::Tmall => (row.taobao, row.name_zh),
        Platform::Jd => (row.jd, row.name_zh),
        Platform::Shopify => (Some(row.shopify), row.shopify),
        Platform::Woocommerce => (Some(row.code), row.name_en),
    };
    code.map(|code| PlatformCarrier {
        carrier: ours,
        code,
        name,
    })
    .ok_or(UnknownCarrier::NotOnPlatform {
        carrier: ours,
        platform,
    })
}

/// Reads the carrier a warehouse names in free text: our code, a platform's code, a Chinese or
/// English name, pinyin or a Kuaidi100 code, in any case, with or without spaces, dashes and a
/// "快递"/"速运"/"Express"-like ending.
pub fn parse_carrier(text: &str) -> Result<Carrier, UnknownCarrier> {
    let unknown = || UnknownCarrier::Unrecognized(text.chars().take(TEXT_CHARS_MAX).collect());
    if text.chars().count() > TEXT_CHARS_MAX {
        return Err(unknown());
    }
    let key = normalize(text);
    if key.is_empty() {
        return Err(unknown());
    }
    if let Some(found) = lookup(&key) {
        return Ok(found);
    }
    SUFFIXES
        .iter()
        .filter_map(|s| key.strip_suffix(s))
        .filter(|rest| !rest.is_empty())
        .find_map(lookup)
        .ok_or_else(unknown)
}

/// Lower case without spaces, dashes, dots, brackets and `&` (`J&T` reads as `jt`).
fn normalize(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace() && !"-_.()（）&·".contains(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Every spelling a row answers to.
fn spellings(row: &CarrierRow) -> impl Iterator<Item = &'static str> {
    [
        Some(row.code),
        Some(row.name_zh),
        Some(row.name_en),
        row.taobao,
        Some(row.shopify),
    ]
    .into_iter()
    .flatten()
    .chain(row.aliases.iter().copied())
}

fn lookup(key: &str) -> Option<Carrier> {
    CARRIERS
        .iter()
        .find(|row| spellings(row).any(|s| normalize(s) == key))
        .map(|row| row.carrier)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const ALL: [Platform; 5] = [
        Platform::Taobao,
        Platform::Tmall,
        Platform::Jd,
        Platform::Shopify,
        Platform::Woocommerce,
    ];

    #[test]
    fn each_spelling_belongs_to_one_carrier_only() {
        let mut seen: HashMap<String, Carrier> = HashMap::new();
        for row in CARRIERS {
            for s in spellings(row) {
                let key = normalize(s);
                assert!(!key.is_empty(), "{:?}: empty spelling", row.carrier);
                if let Some(other) = seen.insert(key.clone(), row.carrier) {
                    assert_eq!(
                        other, row.carrier,
                        "{key:?} names {other:?} and {:?}",
                        row.carrier
                    );
                }
                assert_eq!(parse_carrier(s), Ok(row.carrier), "{s:?}");
            }
        }
    }

    #[test]
    fn every_carrier_has_one_row_and_its_code_reads_back() {
        for row in CARRIERS {
            assert_eq!(
                CARRIERS.iter().filter(|r| r.carrier == row.carrier).count(),
                1
            );
            assert_eq!(row.carrier.row().code, row.code);
            assert_eq!(Carrier::from_code(row.code), Some(row.carrier));
            // Shopify and WooCommerce take any carrier.
            assert!(carrier_for(Platform::Shopify, row.carrier).is_ok());
            assert!(carrier_for(Platform::Woocommerce, row.carrier).is_ok());
            if let Some(id) = row.jd {
                assert!(id.bytes().all(|b| b.is_ascii_digit()), "jd id {id}");
            }
        }
        assert_eq!(Carrier::from_code("sf"), None, "our codes are exact");
    }

    #[test]
    fn platform_codes() {
        struct Case {
            name: &'static str,
            platform: Platform,
            ours: Carrier,
            want: Result<(&'static str, &'static str), UnknownCarrier>,
        }
        let cases = [
            Case {
                name: "taobao yunda is cainiao's YUNDA",
                platform: Platform::Taobao,
                ours: Carrier::Yunda,
                want: Ok(("YUNDA", "韵达快递")),
            },
            Case {
                name: "tmall takes taobao's codes",
                platform: Platform::Tmall,
                ours: Carrier::ChinaPost,
                want: Ok(("POSTB", "邮政快递包裹")),
            },
            Case {
                name: "taobao tiantian",
                platform: Platform::Taobao,
                ours: Carrier::Tiantian,
                want: Ok(("TTKDEX", "天天快递")),
            },
            Case {
                name: "jd sf is a numeric id",
                platform: Platform::Jd,
                ours: Carrier::Sf,
                want: Ok(("467", "顺丰速运")),
            },
            Case {
                name: "jd without an id for the carrier is refused",
                platform: Platform::Jd,
                ours: Carrier::Deppon,
                want: Err(UnknownCarrier::NotOnPlatform {
                    carrier: Carrier::Deppon,
                    platform: Platform::Jd,
                }),
            },
            Case {
                name: "taobao has no ups",
                platform: Platform::Taobao,
                ours: Carrier::Ups,
                want: Err(UnknownCarrier::NotOnPlatform {
                    carrier: Carrier::Ups,
                    platform: Platform::Taobao,
                }),
            },
            Case {
                name: "shopify company name",
                platform: Platform::Shopify,
                ours: Carrier::Dhl,
                want: Ok(("DHL Express", "DHL Express")),
            },
            Case {
                name: "shopify chinese carrier",
                platform: Platform::Shopify,
                ours: Carrier::Sf,
                want: Ok(("SF Express", "SF Express")),
            },
            Case {
                name: "woocommerce gets our code and the english name",
                platform: Platform::Woocommerce,
                ours: Carrier::Yunda,
                want: Ok(("YD", "Yunda Express")),
            },
        ];
        for case in cases {
            let got = carrier_for(case.platform, case.ours).map(|c| (c.code, c.name));
            assert_eq!(got, case.want, "{}", case.name);
        }
        let all_mapped = ALL
            .iter()
            .all(|p| carrier_for(*p, Carrier::Sf).is_ok_and(|c| c.carrier == Carrier::Sf));
        assert!(all_mapped, "sf is on every platform");
    }

    #[test]
    fn free_text_from_warehouses() {
        let cases: &[(&str, &str, Option<Carrier>)] = &[
            ("chinese short name", "顺丰", Some(Carrier::Sf)),
            ("our code", "SF", Some(Carrier::Sf)),
            ("pinyin", "shunfeng", Some(Carrier::Sf)),
            ("lower case code with spaces", "  sf ", Some(Carrier::Sf)),
            ("english name", "SF Express", Some(Carrier::Sf)),
            ("english name, other case", "sf-EXPRESS", Some(Carrier::Sf)),
            ("name with an ending", "顺丰速运", Some(Carrier::Sf)),
            ("name with another ending", "圆通快递", Some(Carrier::Yto)),
            ("kdniao code", "YD", Some(Carrier::Yunda)),
            ("cainiao code", "YUNDA", Some(Carrier::Yunda)),
            ("chinese", "韵达", Some(Carrier::Yunda)),
            ("kuaidi100 code", "zhongtong", Some(Carrier::Zto)),
            ("jd", "京东物流", Some(Carrier::Jd)),
            ("best's old name", "百世汇通", Some(Carrier::Best)),
            ("deppon kdniao", "DBL", Some(Carrier::Deppon)),
            ("deppon cainiao", "dbkd", Some(Carrier::Deppon)),
            ("deppon with ending", "德邦快递", Some(Carrier::Deppon)),
            ("j&t", "J&T", Some(Carrier::JT)),
            ("post parcel", "中国邮政", Some(Carrier::ChinaPost)),
            ("post cainiao", "POSTB", Some(Carrier::ChinaPost)),
            ("ems is not the post", "EMS", Some(Carrier::Ems)),
            ("fedex", "Fedex", Some(Carrier::Fedex)),
            ("dhl", "dhl", Some(Carrier::Dhl)),
            ("full-width brackets", "（顺丰）", Some(Carrier::Sf)),
            ("unknown", "安能", None),
            ("an ending alone", "快递", None),
            ("empty", "   ", None),
            ("a tracking number is not a carrier", "SF1234567890", None),
        ];
        for (name, text, want) in cases {
            let got = parse_carrier(text);
            match want {
                Some(c) => assert_eq!(got, Ok(*c), "{name}: {text:?}"),
                None => assert_eq!(
                    got,
                    Err(UnknownCarrier::Unrecognized(text.to_string())),
                    "{name}: {text:?}"
                ),
            }
        }
        let long = "顺".repeat(100);
        assert!(matches!(
            parse_carrier(&long),
            Err(UnknownCarrier::Unrecognized(t)) if t.chars().count() == TEXT_CHARS_MAX
        ));
    }

    #[test]
    fn errors_name_the_carrier_and_platform() {
        assert_eq!(
            carrier_for(Platform::Jd, Carrier::Ups)
                .unwrap_err()
                .to_string(),
            "carrier UPS has no jd code"
        );
        assert_eq!(
            parse_carrier("x").unwrap_err().to_string(),
            "carrier \"x\" is not one we know"
        );
    }
}
