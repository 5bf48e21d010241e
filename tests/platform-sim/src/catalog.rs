//! What generated orders are made of: the product catalogue, buyers and receivers (masked
//! or not, Chinese or Western), memos and refund reasons.

use crate::model::{Family, Person};
use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;

pub(crate) struct Product {
    pub sku: &'static str,
    pub sku_id: u64,
    pub item_id: u64,
    pub zh: &'static str,
    pub en: &'static str,
    pub price: i64,
}

pub(crate) const CATALOG: &[Product] = &[
    Product {
        sku: "CUP-RED-350",
        sku_id: 100_020_000_001,
        item_id: 680_000_000_001,
        zh: "保温杯 350ml 红色",
        en: "Travel mug 350ml red",
        price: 8900,
    },
    Product {
        sku: "CUP-BLK-500",
        sku_id: 100_020_000_002,
        item_id: 680_000_000_001,
        zh: "保温杯 500ml 黑色",
        en: "Travel mug 500ml black",
        price: 9900,
    },
    Product {
        sku: "LID-BLK",
        sku_id: 100_020_000_003,
        item_id: 680_000_000_002,
        zh: "杯盖 黑色",
        en: "Mug lid black",
        price: 1500,
    },
    Product {
        sku: "TEE-M",
        sku_id: 100_020_000_004,
        item_id: 680_000_000_003,
        zh: "纯棉T恤 M",
        en: "Cotton tee M",
        price: 7900,
    },
    Product {
        sku: "TEE-L",
        sku_id: 100_020_000_005,
        item_id: 680_000_000_003,
        zh: "纯棉T恤 L",
        en: "Cotton tee L",
        price: 7900,
    },
    Product {
        sku: "TEA-500G",
        sku_id: 100_020_000_006,
        item_id: 680_000_000_004,
        zh: "西湖龙井 500g",
        en: "Longjing tea 500g",
        price: 25800,
    },
    Product {
        sku: "MOUSE-W",
        sku_id: 100_020_000_007,
        item_id: 680_000_000_005,
        zh: "无线鼠标",
        en: "Wireless mouse",
        price: 12900,
    },
    Product {
        sku: "CANDLE-VAN",
        sku_id: 100_020_000_008,
        item_id: 680_000_000_006,
        zh: "香薰蜡烛 香草",
        en: "Candle vanilla",
        price: 1550,
    },
    Product {
        sku: "SOCKS-3P",
        sku_id: 100_020_000_009,
        item_id: 680_000_000_007,
        zh: "袜子三双装",
        en: "Socks 3-pack",
        price: 2999,
    },
];

const ZH_SURNAMES: &[&str] = &["张", "王", "李", "刘", "陈", "杨", "赵", "黄"];
const ZH_GIVEN: &[&str] = &["伟", "芳", "娜", "敏", "静", "磊", "洋", "婷"];
const ZH_REGIONS: &[(&str, &str, &str, &str, &str)] = &[
    ("浙江省", "杭州市", "西湖区", "文新街道", "310012"),
    ("北京", "北京市", "朝阳区", "建外街道", "100022"),
    ("广东省", "深圳市", "南山区", "粤海街道", "518057"),
    ("上海", "上海市", "浦东新区", "陆家嘴街道", "200120"),
    ("河南省", "", "济源市", "沁园街道", "459000"),
];
const EN_FIRST: &[&str] = &["Sam", "Bo", "Alex", "Maria", "Jon", "Priya"];
const EN_LAST: &[&str] = &["Diaz", "Chen", "Smith", "Rossi", "Lee", "Patel"];
const EN_REGIONS: &[(&str, &str, &str, &str)] = &[
    ("US", "TX", "Austin", "73301"),
    ("US", "IL", "Springfield", "62701"),
    ("US", "NY", "Brooklyn", "11201"),
    ("CA", "ON", "Toronto", "M5V 2T6"),
];
pub(crate) const ZH_MEMOS: &[&str] = &["请尽快发货", "不要放快递柜", "送人的，不要放发票"];
pub(crate) const EN_MEMOS: &[&str] = &["Leave at the door", "Gift wrap please"];
pub(crate) const REASONS: &[&str] = &["不想要了", "商品破损", "尺码不合适", "arrived broken"];

pub(crate) fn person(family: Family, rng: &mut StdRng) -> Person {
    let masked = rng.random_bool(if family.chinese() { 0.7 } else { 0.1 });
    let customer_id = rng.random_range(7000..8000);
    if family.chinese() {
        let surname = *ZH_SURNAMES.choose(rng).expect("names");
        let given = *ZH_GIVEN.choose(rng).expect("names");
        let (province, city, district, town, zip) = *ZH_REGIONS.choose(rng).expect("regions");
        let tail = rng.random_range(1000..10000);
        let no = rng.random_range(1..300);
        let (name, phone, address) = if masked {
            (
                format!("{surname}**"),
                format!("138****{tail}"),
                format!("文一西路***号{}", ["", "2幢"][no % 2]),
            )
        } else {
            (
                format!("{surname}{given}"),
                format!("1381234{tail}"),
                format!("文一西路{no}号"),
            )
        };
        let nick = if masked {
            format!("{surname}**{}", no % 10)
        } else {
            format!("{surname}{given}{no}")
        };
        Person {
            name,
            first: given,
            last: surname,
            phone,
            email: String::new(),
            nick,
            customer_id,
            country: "CN",
            province,
            city,
            district,
            town,
            address,
            zip,
        }
    } else {
        let first = *EN_FIRST.choose(rng).expect("names");
        let last = *EN_LAST.choose(rng).expect("names");
        let (country, province, city, zip) = *EN_REGIONS.choose(rng).expect("regions");
        let no = rng.random_range(1..999);
        let tail = rng.random_range(1000..10000);
        Person {
            name: if masked {
                format!("{}***", &first[..1])
            } else {
                format!("{first} {last}")
            },
            first: if masked { "" } else { first },
            last: if masked { "" } else { last },
            phone: if masked {
                format!("555-***-{tail}")
            } else {
                format!("555-010-{tail}")
            },
            email: format!(
                "{}.{}{no}@example.net",
                first.to_lowercase(),
                last.to_lowercase()
            ),
            nick: String::new(),
            customer_id: if rng.random_bool(0.3) { 0 } else { customer_id },
            country,
            province,
            city,
            district: "",
            town: "",
            address: format!("{no} Elm St"),
            zip,
        }
    }
}
