//! What the router's validators enforce, written into the OpenAPI document: lengths, patterns,
//! ranges and list sizes of every request field and parameter, and the links from an operation
//! that creates something to the operations that read or change it. A generated client or a
//! schema-driven fuzzer that keeps to the document sends requests the router accepts.
//!
//! The rules are built from the same constants the validators use, so they cannot drift apart;
//! `tests` below checks the patterns against the validators themselves.

use crate::api_keys::{API_KEY_ID_BYTES_MAX, API_KEY_NAME_CHARS_MAX, API_KEY_SCOPES_MAX};
use crate::dto::{DASHBOARD_MINUTES_MAX, STOCK_LIMIT_MAX, TOKEN_TTL_SECS_MAX};
use crate::fulfilment as ful;
use crate::identity::{
    PASSWORD_BYTES_MAX, PASSWORD_CHARS_MIN, REFRESH_TOKEN_BYTES_MAX, USER_WAREHOUSES_MAX,
    USERNAME_BYTES_MAX,
};
use crate::orders::{ORDERS_LIMIT_MAX, TEXT_MAX};
use crate::shops::{
    CREDENTIAL_BYTES_MAX, SHOP_ID_BYTES_MAX, SHOP_NAME_CHARS_MAX, SHOP_URL_BYTES_MAX,
};
use serde_json::{Value, json};
use xt_shared::ids::ID_BYTES_MAX;

/// A slug id (tenant, agent, site): ASCII letters, digits, `-`, `_`, `.`.
pub const SLUG_PATTERN: &str = r"^[A-Za-z0-9._-]+$";
/// A code (warehouse, SKU): no control characters, no whitespace at either end.
pub const CODE_PATTERN: &str = r"^[^\s\u0000-\u001f\u007f-\u009f](?:[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f])?$";
/// Text without control characters.
pub const TEXT_PATTERN: &str = r"^[^\u0000-\u001f\u007f-\u009f]+$";
/// A username: ASCII letters, digits, `-`, `_`, `.`, `@`.
pub const USERNAME_PATTERN: &str = r"^[A-Za-z0-9._@-]+$";
/// A credential value: no whitespace, no control characters.
pub const CREDENTIAL_PATTERN: &str = r"^[^\s\u0000-\u001f\u007f-\u009f]+$";
/// An opaque cursor as the API hands it out (URL-safe base64 without padding).
pub const CURSOR_PATTERN: &str = r"^[A-Za-z0-9_-]+$";
/// An http(s) URL.
pub const URL_PATTERN: &str = r"^https?://[^\s?#@]+$";

/// What one string, number or list accepts.
#[derive(Debug, Clone, Copy)]
pub enum Rule {
    /// A string of `min..=max` (characters, or bytes of UTF-8 where `bytes` says so: JSON
    /// Schema counts characters, so the description says which) matching `pattern`.
    Str {
        min: usize,
        max: usize,
        bytes: bool,
        pattern: Option<&'static str>,
        format: Option<&'static str>,
    },
    /// An integer in `min..=max`.
    Int { min: i64, max: i64 },
    /// A list of `min..=max` items, each following `item` (if any).
    List {
        min: usize,
        max: usize,
        item: Option<&'static Rule>,
    },
}

const fn text_bytes(max: usize, pattern: &'static str) -> Rule {
    Rule::Str {
        min: 1,
        max,
        bytes: true,
        pattern: Some(pattern),
        format: None,
    }
}

const fn text_chars(max: usize) -> Rule {
    Rule::Str {
        min: 1,
        max,
        bytes: false,
        pattern: Some(TEXT_PATTERN),
        format: None,
    }
}

const SLUG: Rule = text_bytes(ID_BYTES_MAX, SLUG_PATTERN);
const CODE: Rule = text_bytes(ID_BYTES_MAX, CODE_PATTERN);
const TEXT: Rule = text_bytes(TEXT_MAX, TEXT_PATTERN);
const USERNAME: Rule = text_bytes(USERNAME_BYTES_MAX, USERNAME_PATTERN);
const CREDENTIAL: Rule = text_bytes(CREDENTIAL_BYTES_MAX, CREDENTIAL_PATTERN);
const TIME: Rule = Rule::Str {
    min: 1,
    max: 64,
    bytes: true,
    pattern: None,
    format: Some("date-time"),
};
const fn cursor(max: usize) -> Rule {
    text_bytes(max, CURSOR_PATTERN)
}
/// Every role at most once.
const ROLES: Rule = Rule::List {
    min: 1,
    max: 5,
    item: None,
};
/// An order id, `{shop_id}:{platform order no}`.
const ORDER_ID: Rule = Rule::Str {
    min: 3,
    max: TEXT_MAX,
    bytes: true,
    pattern: Some(r"^[^:]+:.+$"),
    format: None,
};
const REGION: Rule = text_chars(ful::REGION_CHARS_MAX);
const LINES: Rule = Rule::List {
    min: 1,
    max: ful::LINES_MAX,
    item: None,
};
const CARRIER: Rule = text_bytes(ful::CARRIER_BYTES_MAX, r"^[A-Z0-9_]+$");
const TRACKING_NO: Rule = text_bytes(ful::TRACKING_NO_BYTES_MAX, r"^[A-Za-z0-9-]+$");
const REASON: Rule = text_chars(ful::REASON_CHARS_MAX);
const QIMEN_ID: Rule = text_bytes(ful::QIMEN_ID_BYTES_MAX, CREDENTIAL_PATTERN);
const WAREHOUSES: Rule = Rule::List {
    min: 0,
    max: USER_WAREHOUSES_MAX,
    item: Some(&CODE),
};

/// `(schema, property, rule)` for every constrained property of a request body.
pub const PROPERTIES: &[(&str, &str, Rule)] = &[
    ("TokenRequest", "site", SLUG),
    (
        "TokenRequest",
        "ttl_secs",
        Rule::Int {
            min: 1,
            max: TOKEN_TTL_SECS_MAX as i64,
        },
    ),
    ("LoginRequest", "tenant", SLUG),
    ("LoginRequest", "username", USERNAME),
    (
        "LoginRequest",
        "password",
        Rule::Str {
            min: 1,
            max: PASSWORD_BYTES_MAX,
            bytes: true,
            pattern: None,
            format: Some("password"),
        },
    ),
    (
        "RefreshRequest",
        "refresh_token",
        Rule::Str {
            min: 1,
            max: REFRESH_TOKEN_BYTES_MAX,
            bytes: true,
            pattern: None,
            format: None,
        },
    ),
    ("UserCreate", "username", USERNAME),
    (
        "UserCreate",
        "password",
        Rule::Str {
            min: PASSWORD_CHARS_MIN,
            max: PASSWORD_BYTES_MAX,
            bytes: true,
            pattern: None,
            format: Some("password"),
        },
    ),
    ("UserCreate", "roles", ROLES),
    ("UserCreate", "warehouses", WAREHOUSES),
    ("UserPatch", "roles", ROLES),
    ("UserPatch", "warehouses", WAREHOUSES),
    ("ApiKeyCreate", "name", text_chars(API_KEY_NAME_CHARS_MAX)),
    (
        "ApiKeyCreate",
        "scopes",
        Rule::List {
            min: 1,
            max: API_KEY_SCOPES_MAX,
            item: None,
        },
    ),
    ("ShopCreate", "name", text_chars(SHOP_NAME_CHARS_MAX)),
    (
        "ShopCreate",
        "api_base_url",
        Rule::Str {
            min: 1,
            max: SHOP_URL_BYTES_MAX,
            bytes: true,
            pattern: Some(URL_PATTERN),
            format: Some("uri"),
        },
    ),
    ("ShopPatch", "name", text_chars(SHOP_NAME_CHARS_MAX)),
    (
        "ShopPatch",
        "api_base_url",
        Rule::Str {
            min: 1,
            max: SHOP_URL_BYTES_MAX,
            bytes: true,
            pattern: Some(URL_PATTERN),
            format: Some("uri"),
        },
    ),
    ("CredentialsInput", "app_key", CREDENTIAL),
    ("CredentialsInput", "app_secret", CREDENTIAL),
    ("CredentialsInput", "session", CREDENTIAL),
    ("CredentialsInput", "access_token", CREDENTIAL),
    ("CredentialsInput", "shop_domain", CREDENTIAL),
    ("CredentialsInput", "webhook_secret", CREDENTIAL),
    ("CredentialsInput", "consumer_key", CREDENTIAL),
    ("CredentialsInput", "consumer_secret", CREDENTIAL),
    ("SkuMappingCreate", "platform_sku_id", TEXT),
    ("SkuMappingCreate", "merchant_sku", TEXT),
    ("SkuMappingCreate", "sku", CODE),
    ("BackfillRequest", "from", TIME),
    ("BackfillRequest", "to", TIME),
    ("FulfilmentActionRequest", "reason", REASON),
    ("FulfilmentActionRequest", "warehouse", CODE),
    (
        "FulfilmentActionRequest",
        "parts",
        Rule::List {
            min: 2,
            max: ful::SPLIT_PARTS_MAX,
            item: None,
        },
    ),
    ("SplitPartInput", "warehouse", CODE),
    ("SplitPartInput", "lines", LINES),
    ("LineInput", "sku", CODE),
    (
        "LineInput",
        "quantity",
        Rule::Int {
            min: 1,
            max: ful::QUANTITY_MAX as i64,
        },
    ),
    ("WarehouseInput", "code", CODE),
    (
        "WarehouseInput",
        "name",
        text_chars(ful::WAREHOUSE_NAME_CHARS_MAX),
    ),
    ("WarehouseInput", "agent_id", SLUG),
    (
        "WarehouseInput",
        "priority",
        Rule::Int {
            min: 0,
            max: ful::PRIORITY_MAX as i64,
        },
    ),
    (
        "QimenInput",
        "endpoint",
        Rule::Str {
            min: 1,
            max: SHOP_URL_BYTES_MAX,
            bytes: true,
            pattern: Some(URL_PATTERN),
            format: Some("uri"),
        },
    ),
    ("QimenInput", "app_key", CREDENTIAL),
    ("QimenInput", "secret", CREDENTIAL),
    ("QimenInput", "customer_id", QIMEN_ID),
    ("QimenInput", "owner_code", QIMEN_ID),
    (
        "Coverage",
        "provinces",
        Rule::List {
            min: 0,
            max: ful::PROVINCES_MAX,
            item: Some(&REGION),
        },
    ),
    (
        "Coverage",
        "cities",
        Rule::List {
            min: 0,
            max: ful::CITIES_MAX,
            item: Some(&REGION),
        },
    ),
    (
        "MoneyInput",
        "minor",
        Rule::Int {
            min: 0,
            max: ful::MONEY_MINOR_MAX,
        },
    ),
    (
        "MoneyInput",
        "currency",
        Rule::Str {
            min: 3,
            max: 3,
            bytes: true,
            pattern: Some(r"^[A-Z]{3}$"),
            format: None,
        },
    ),
    (
        "ReviewRules",
        "blacklist",
        Rule::List {
            min: 0,
            max: ful::BLACKLIST_MAX,
            item: None,
        },
    ),
    (
        "RepeatReceiver",
        "count",
        Rule::Int {
            min: ful::REPEAT_COUNT_MIN as i64,
            max: ful::REPEAT_COUNT_MAX as i64,
        },
    ),
    (
        "RepeatReceiver",
        "window_minutes",
        Rule::Int {
            min: 1,
            max: ful::REPEAT_WINDOW_MINUTES_MAX as i64,
        },
    ),
    (
        "BlacklistEntry",
        "name",
        text_chars(ful::BLACKLIST_TEXT_CHARS_MAX),
    ),
    (
        "BlacklistEntry",
        "phone",
        text_chars(ful::BLACKLIST_TEXT_CHARS_MAX),
    ),
    (
        "BlacklistEntry",
        "address",
        text_chars(ful::BLACKLIST_TEXT_CHARS_MAX),
    ),
    (
        "MergeSettings",
        "window_minutes",
        Rule::Int {
            min: 0,
            max: ful::MERGE_WINDOW_MINUTES_MAX as i64,
        },
    ),
    (
        "SplitSettings",
        "designated",
        Rule::List {
            min: 0,
            max: ful::DESIGNATED_MAX,
            item: None,
        },
    ),
    ("DesignatedWarehouse", "sku", CODE),
    ("DesignatedWarehouse", "warehouse", CODE),
    ("DeliveryConfirmRequest", "carrier", CARRIER),
    ("DeliveryConfirmRequest", "tracking_no", TRACKING_NO),
    (
        "DeliveryConfirmRequest",
        "packages",
        Rule::List {
            min: 1,
            max: ful::PACKAGES_MAX,
            item: None,
        },
    ),
    (
        "DeliveryConfirmRequest",
        "confirmation_id",
        text_bytes(ful::CONFIRMATION_ID_BYTES_MAX, SLUG_PATTERN),
    ),
    ("PackageInput", "carrier", CARRIER),
    ("PackageInput", "tracking_no", TRACKING_NO),
    ("PackageInput", "lines", LINES),
    ("DeliveryExceptionRequest", "reason", REASON),
];

/// `(path, parameter, rule)` for every constrained path or query parameter.
pub const PARAMETERS: &[(&str, &str, Rule)] = &[
    ("/api/v1/agents/{id}/revoke", "id", SLUG),
    ("/api/v1/stock", "warehouse", CODE),
    ("/api/v1/stock", "sku", CODE),
    (
        "/api/v1/stock",
        "sku_prefix",
        text_bytes(ID_BYTES_MAX, TEXT_PATTERN),
    ),
    ("/api/v1/stock", "cursor", cursor(512)),
    (
        "/api/v1/stock",
        "limit",
        Rule::Int {
            min: 1,
            max: STOCK_LIMIT_MAX as i64,
        },
    ),
    (
        "/api/v1/dashboard",
        "minutes",
        Rule::Int {
            min: 1,
            max: DASHBOARD_MINUTES_MAX as i64,
        },
    ),
    (
        "/api/v1/events",
        "after",
        Rule::Int {
            min: 0,
            max: i64::MAX,
        },
    ),
    (
        "/api/v1/events",
        "Last-Event-ID",
        Rule::Int {
            min: 0,
            max: i64::MAX,
        },
    ),
    ("/api/v1/users/{username}", "username", USERNAME),
    (
        "/api/v1/api-keys/{id}/revoke",
        "id",
        text_bytes(API_KEY_ID_BYTES_MAX, TEXT_PATTERN),
    ),
    (
        "/api/v1/shops/{id}",
        "id",
        text_bytes(SHOP_ID_BYTES_MAX, TEXT_PATTERN),
    ),
    (
        "/api/v1/shops/{id}/capture-errors",
        "id",
        text_bytes(SHOP_ID_BYTES_MAX, TEXT_PATTERN),
    ),
    (
        "/api/v1/shops/{id}/backfill",
        "id",
        text_bytes(SHOP_ID_BYTES_MAX, TEXT_PATTERN),
    ),
    ("/api/v1/orders", "shop", TEXT),
    ("/api/v1/orders", "modified_from", TIME),
    ("/api/v1/orders", "modified_to", TIME),
    ("/api/v1/orders", "order_no", TEXT),
    ("/api/v1/orders", "receiver", TEXT),
    ("/api/v1/orders", "cursor", cursor(TEXT_MAX * 2)),
    (
        "/api/v1/orders",
        "limit",
        Rule::Int {
            min: 1,
            max: ORDERS_LIMIT_MAX as i64,
        },
    ),
    ("/api/v1/orders/{id}", "id", ORDER_ID),
    ("/api/v1/members/{id}", "id", TEXT),
    ("/api/v1/sku-mappings/{id}", "id", TEXT),
    ("/api/v1/webhooks/{platform}/{shop}", "shop", TEXT),
    ("/api/v1/fulfilment/orders", "warehouse", CODE),
    (
        "/api/v1/fulfilment/orders",
        "cursor",
        cursor(ful::CURSOR_BYTES_MAX),
    ),
    (
        "/api/v1/fulfilment/orders",
        "limit",
        Rule::Int {
            min: 1,
            max: ful::FULFILMENTS_LIMIT_MAX as i64,
        },
    ),
    ("/api/v1/fulfilment/orders/{id}", "id", ORDER_ID),
    ("/api/v1/fulfilment/orders/{id}/actions", "id", ORDER_ID),
    ("/api/v1/warehouses/{code}", "code", CODE),
    ("/api/v1/deliveries", "warehouse", CODE),
    (
        "/api/v1/deliveries",
        "cursor",
        cursor(ful::CURSOR_BYTES_MAX),
    ),
    (
        "/api/v1/deliveries",
        "limit",
        Rule::Int {
            min: 1,
            max: ful::DELIVERIES_LIMIT_MAX as i64,
        },
    ),
    ("/api/v1/deliveries/{delivery_no}", "delivery_no", CODE),
    (
        "/api/v1/deliveries/{delivery_no}/confirm",
        "delivery_no",
        CODE,
    ),
    (
        "/api/v1/deliveries/{delivery_no}/exception",
        "delivery_no",
        CODE,
    ),
    (
        "/api/v1/callbacks/qimen/{tenant}/{warehouse}",
        "tenant",
        SLUG,
    ),
    (
        "/api/v1/callbacks/qimen/{tenant}/{warehouse}",
        "warehouse",
        CODE,
    ),
];

/// `(path, parameter, values)`: parameters that take one of a fixed set of values.
pub const PARAMETER_ENUMS: &[(&str, &str, &[&str])] = &[
    ("/api/v1/orders", "platform", PLATFORMS),
    ("/api/v1/orders", "status", ORDER_STATES),
    (
        "/api/v1/webhooks/{platform}/{shop}",
        "platform",
        &["shopify", "woocommerce"],
    ),
    (
        "/api/v1/fulfilment/orders",
        "state",
        &ful::FULFILMENT_STATE_NAMES,
    ),
    ("/api/v1/deliveries", "state", &ful::DELIVERY_STATE_NAMES),
];

/// `(schema, property, values)`: request properties that take one of a fixed set of values.
pub const PROPERTY_ENUMS: &[(&str, &str, &[&str])] = &[
    ("ShopCreate", "platform", PLATFORMS),
    ("SkuMappingCreate", "platform", PLATFORMS),
];

const PLATFORMS: &[&str] = &["taobao", "tmall", "jd", "shopify", "woocommerce"];

/// The standard order states as the API names them (checked against `OrderState` in `tests`).
const ORDER_STATES: &[&str] = &[
    "pending_payment",
    "payment_processing",
    "payment_failed",
    "paid",
    "on_hold",
    "partially_shipped",
    "shipped",
    "delivered",
    "completed",
    "cancelled",
    "refunded",
    "deleted",
];

/// `(path, rule)` for request bodies that are not a schema of their own (raw text).
pub const BODIES: &[(&str, Rule)] = &[
    (
        "/api/v1/webhooks/{platform}/{shop}",
        Rule::Str {
            min: 1,
            max: crate::orders::WEBHOOK_BODY_BYTES_MAX,
            bytes: true,
            pattern: None,
            format: None,
        },
    ),
    (
        "/api/v1/callbacks/qimen/{tenant}/{warehouse}",
        Rule::Str {
            min: 1,
            max: ful::QIMEN_BODY_BYTES_MAX,
            bytes: true,
            pattern: None,
            format: None,
        },
    ),
];

/// One link from a response to an operation that reads or changes what it holds.
pub struct LinkSpec {
    /// The operation answering (its `operationId`) and the status of the response.
    pub from: (&'static str, u16),
    /// The link's name in the response's `links`.
    pub name: &'static str,
    /// The linked operation's `operationId`.
    pub to: &'static str,
    /// `(parameter, runtime expression)` for the linked operation.
    pub parameters: &'static [(&'static str, &'static str)],
    pub description: &'static str,
}

/// Every creating operation links to the ones that read or change what it created.
pub const LINKS: &[LinkSpec] = &[
    LinkSpec {
        from: ("create_user", 201),
        name: "UpdateUser",
        to: "update_user",
        parameters: &[("username", "$response.body#/username")],
        description: "Change the user's roles, warehouses or disabled flag",
    },
    LinkSpec {
        from: ("create_user", 201),
        name: "ListUsers",
        to: "list_users",
        parameters: &[],
        description: "The new user in the tenant's users",
    },
    LinkSpec {
        from: ("create_api_key", 201),
        name: "RevokeApiKey",
        to: "revoke_api_key",
        parameters: &[("id", "$response.body#/key/id")],
        description: "Revoke the key",
    },
    LinkSpec {
        from: ("create_api_key", 201),
        name: "ListApiKeys",
        to: "list_api_keys",
        parameters: &[],
        description: "The new key in the tenant's keys",
    },
    LinkSpec {
        from: ("create_shop", 201),
        name: "GetShop",
        to: "get_shop",
        parameters: &[("id", "$response.body#/id")],
        description: "The shop and its capture health",
    },
    LinkSpec {
        from: ("create_shop", 201),
        name: "UpdateShop",
        to: "update_shop",
        parameters: &[("id", "$response.body#/id")],
        description: "Change the shop",
    },
    LinkSpec {
        from: ("create_shop", 201),
        name: "CaptureErrors",
        to: "list_capture_errors",
        parameters: &[("id", "$response.body#/id")],
        description: "Payloads of the shop that could not be captured",
    },
    LinkSpec {
        from: ("create_shop", 201),
        name: "Backfill",
        to: "backfill_shop",
        parameters: &[("id", "$response.body#/id")],
        description: "Capture an earlier range of the shop's orders",
    },
    LinkSpec {
        from: ("update_shop", 200),
        name: "GetShop",
        to: "get_shop",
        parameters: &[("id", "$response.body#/id")],
        description: "The shop and its capture health",
    },
    LinkSpec {
        from: ("create_sku_mapping", 201),
        name: "DeleteSkuMapping",
        to: "delete_sku_mapping",
        parameters: &[("id", "$response.body#/id")],
        description: "Delete the mapping",
    },
    LinkSpec {
        from: ("create_sku_mapping", 201),
        name: "ListSkuMappings",
        to: "list_sku_mappings",
        parameters: &[],
        description: "The new mapping in the tenant's mappings",
    },
    LinkSpec {
        from: ("create_warehouse", 201),
        name: "UpdateWarehouse",
        to: "update_warehouse",
        parameters: &[("code", "$response.body#/code")],
        description: "Change the warehouse",
    },
    LinkSpec {
        from: ("create_warehouse", 201),
        name: "ListWarehouses",
        to: "list_warehouses",
        parameters: &[],
        description: "The new warehouse in the tenant's warehouses",
    },
    LinkSpec {
        from: ("list_fulfilments", 200),
        name: "GetFulfilment",
        to: "get_fulfilment",
        parameters: &[("id", "$response.body#/orders/0/id")],
        description: "One order of the page with its timeline, dispatch and deliveries",
    },
    LinkSpec {
        from: ("list_deliveries", 200),
        name: "ConfirmDelivery",
        to: "confirm_delivery",
        parameters: &[("delivery_no", "$response.body#/deliveries/0/delivery_no")],
        description: "Confirm the first delivery order of the page shipped",
    },
    LinkSpec {
        from: ("create_token", 201),
        name: "ListAgents",
        to: "list_agents",
        parameters: &[],
        description: "The agent appears here once it has enrolled with the token",
    },
    LinkSpec {
        from: ("list_orders", 200),
        name: "GetOrder",
        to: "get_order",
        parameters: &[("id", "$response.body#/orders/0/id")],
        description: "One order of the page with its lines, refunds and provenance",
    },
    LinkSpec {
        from: ("login", 200),
        name: "Refresh",
        to: "refresh",
        parameters: &[],
        description: "Trade the refresh token for the next pair (body `{\"refresh_token\": …}`)",
    },
    LinkSpec {
        from: ("login", 200),
        name: "Me",
        to: "me",
        parameters: &[],
        description: "Who the access token belongs to and what it may do",
    },
];

/// Writes [`PROPERTIES`], [`PARAMETERS`], the enums and [`LINKS`] into `doc` (the document as
/// JSON). Returns what it could not find, so a renamed field or operation fails the tests
/// instead of silently dropping its constraint.
pub fn apply(doc: &mut Value) -> Vec<String> {
    let mut missing = Vec::new();
    for (schema, property, rule) in PROPERTIES {
        match property_mut(doc, schema, property) {
            Some(target) => set_rule(target, rule),
            None => missing.push(format!("schema {schema}.{property}")),
        }
    }
    for (schema, property, values) in PROPERTY_ENUMS {
        match property_mut(doc, schema, property) {
            Some(target) => set_enum(target, values),
            None => missing.push(format!("schema {schema}.{property}")),
        }
    }
    for (path, name, rule) in PARAMETERS {
        let params = parameters_mut(doc, path, name);
        if params.is_empty() {
            missing.push(format!("parameter {name} of {path}"));
        }
        for schema in params {
            set_rule(schema, rule);
        }
    }
    for (path, name, values) in PARAMETER_ENUMS {
        let params = parameters_mut(doc, path, name);
        if params.is_empty() {
            missing.push(format!("parameter {name} of {path}"));
        }
        for schema in params {
            set_enum(schema, values);
        }
    }
    for (path, rule) in BODIES {
        let bodies: Vec<&mut Value> = doc
            .get_mut("paths")
            .and_then(|p| p.get_mut(*path))
            .and_then(Value::as_object_mut)
            .into_iter()
            .flat_map(|item| item.values_mut())
            .filter_map(|op| op.pointer_mut("/requestBody/content"))
            .filter_map(Value::as_object_mut)
            .flat_map(|content| content.values_mut())
            .filter_map(|media| media.get_mut("schema"))
            .collect();
        if bodies.is_empty() {
            missing.push(format!("request body of {path}"));
        }
        for schema in bodies {
            set_rule(schema, rule);
        }
    }
    for link in LINKS {
        let (operation, status) = link.from;
        let Some(response) = operation_mut(doc, operation)
            .and_then(|op| op.pointer_mut(&format!("/responses/{status}")))
            .and_then(Value::as_object_mut)
        else {
            missing.push(format!("response {status} of {operation}"));
            continue;
        };
        let parameters: serde_json::Map<String, Value> = link
            .parameters
            .iter()
            .map(|(name, expr)| ((*name).to_owned(), json!(expr)))
            .collect();
        let mut object = json!({"operationId": link.to, "description": link.description});
        if !parameters.is_empty() {
            object["parameters"] = Value::Object(parameters);
        }
        let links = response
            .entry("links")
            .or_insert_with(|| json!({}))
            .as_object_mut();
        if let Some(links) = links {
            links.insert(link.name.to_owned(), object);
        }
    }
    missing
}

/// The schema of `property` of component `schema`: the non-null branch when it is optional.
fn property_mut<'a>(doc: &'a mut Value, schema: &str, property: &str) -> Option<&'a mut Value> {
    let target = doc.pointer_mut(&format!(
        "/components/schemas/{schema}/properties/{property}"
    ))?;
    Some(non_null(target))
}

/// `{"oneOf": [{"type": "null"}, X]}` → X; anything else as it is.
fn non_null(schema: &mut Value) -> &mut Value {
    let inline = schema
        .get("oneOf")
        .and_then(Value::as_array)
        .and_then(|branches| {
            branches
                .iter()
                .position(|b| b.get("type") != Some(&json!("null")))
        });
    match inline {
        Some(i) => &mut schema["oneOf"][i],
        None => schema,
    }
}

/// The schemas of every parameter `name` of every operation of `path`.
fn parameters_mut<'a>(doc: &'a mut Value, path: &str, name: &str) -> Vec<&'a mut Value> {
    let Some(item) = doc
        .get_mut("paths")
        .and_then(|p| p.get_mut(path))
        .and_then(Value::as_object_mut)
    else {
        return Vec::new();
    };
    item.values_mut()
        .filter_map(|op| op.get_mut("parameters").and_then(Value::as_array_mut))
        .flat_map(|params| params.iter_mut())
        .filter(|p| p.get("name") == Some(&json!(name)))
        .filter_map(|p| p.get_mut("schema"))
        .map(non_null)
        .collect()
}

/// The operation whose `operationId` is `id`.
fn operation_mut<'a>(doc: &'a mut Value, id: &str) -> Option<&'a mut Value> {
    doc.get_mut("paths")?
        .as_object_mut()?
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
        .find(|op| op.get("operationId") == Some(&json!(id)))
}

fn set_rule(target: &mut Value, rule: &Rule) {
    let Some(object) = target.as_object_mut() else {
        return;
    };
    match *rule {
        Rule::Str {
            min,
            max,
            bytes,
            pattern,
            format,
        } => {
            object.insert("minLength".into(), json!(min));
            object.insert("maxLength".into(), json!(max));
            if let Some(pattern) = pattern {
                object.insert("pattern".into(), json!(pattern));
            }
            if let Some(format) = format {
                object.insert("format".into(), json!(format));
            }
            if bytes {
                // JSON Schema counts characters; the hub counts bytes of UTF-8.
                let note =
                    format!("At most {max} bytes of UTF-8 (fewer characters outside ASCII).");
                let description = match object.get("description").and_then(Value::as_str) {
                    Some(d) if !d.is_empty() => format!("{d}\n\n{note}"),
                    _ => note,
                };
                object.insert("description".into(), json!(description));
            }
        }
        Rule::Int { min, max } => {
            object.insert("minimum".into(), json!(min));
            object.insert("maximum".into(), json!(max));
        }
        Rule::List { min, max, item } => {
            object.insert("minItems".into(), json!(min));
            object.insert("maxItems".into(), json!(max));
            if rule_needs_unique(rule) {
                object.insert("uniqueItems".into(), json!(true));
            }
            if let (Some(item), Some(items)) = (item, object.get_mut("items")) {
                set_rule(non_null(items), item);
            }
        }
    }
}

/// Lists without an item rule are lists of enum values (roles, scopes): each at most once.
fn rule_needs_unique(rule: &Rule) -> bool {
    matches!(rule, Rule::List { item: None, .. })
}

fn set_enum(target: &mut Value, values: &[&str]) {
    if let Some(object) = target.as_object_mut() {
        object.insert("enum".into(), json!(values));
    }
}

#[cfg(test)]
mod tests;
