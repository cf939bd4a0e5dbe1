//! What a route takes and answers, stated in its registry entry for the API document: the Rust
//! types its handler parses and returns, and the errors it may answer beyond those every route of
//! its kind can. `openapi` turns these into the document; nothing here runs per request.

use shared::error::ErrorCode;
use utoipa::openapi::path::Parameter;
use utoipa::openapi::{Ref, RefOr, Schema};
use utoipa::{IntoParams, ToSchema};

/// Named schemas gathered while the document is built.
pub type Schemas = Vec<(String, RefOr<Schema>)>;
/// Adds a type's schema, and every schema it refers to, to the gathered ones; answers how the
/// document refers to it.
pub type SchemaFn = fn(&mut Schemas) -> RefOr<Schema>;
/// A route's query parameters.
pub type ParamsFn = fn() -> Vec<Parameter>;

/// `T` by reference, its schema gathered under its name.
pub fn named<T: ToSchema>(schemas: &mut Schemas) -> RefOr<Schema> {
    schemas.push((T::name().into_owned(), T::schema()));
    T::schemas(schemas);
    RefOr::Ref(Ref::from_schema_name(T::name()))
}

/// A JSON array of `T`.
pub fn list_of<T: ToSchema>(schemas: &mut Schemas) -> RefOr<Schema> {
    let item = named::<T>(schemas);
    RefOr::T(Schema::Array(utoipa::openapi::schema::Array::new(item)))
}

/// One page of `T` (cursor pagination: `items`, newest first, and `has_more`).
pub fn page_of<T: ToSchema>(schemas: &mut Schemas) -> RefOr<Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let items = list_of::<T>(schemas);
    ObjectBuilder::new()
        .property("items", items)
        .required("items")
        .property(
            "has_more",
            ObjectBuilder::new()
                .schema_type(Type::Boolean)
                .description(Some(
                    "Whether another page follows: pass the last item's id as `starting_after`",
                )),
        )
        .required("has_more")
        .into()
}

fn params<T: IntoParams>() -> Vec<Parameter> {
    T::into_params(|| Some(utoipa::openapi::path::ParameterIn::Query))
}

/// What the request body is.
#[derive(Clone, Copy)]
pub enum Body {
    /// None is read.
    Empty,
    /// A JSON document of this schema.
    Json(SchemaFn),
    /// A JSON document of this schema, or no body at all (every field optional).
    OptionalJson(SchemaFn),
    /// A form (`application/x-www-form-urlencoded`) of this schema.
    Form(SchemaFn),
    /// Whatever the gateway sends, verified by its signature (JSON or a form).
    Callback,
}

/// What a successful answer is.
#[derive(Clone, Copy)]
pub enum Answer {
    /// The envelope `{success, data, message, timestamp}` with this status and `data`.
    Data {
        /// 200 or 201.
        status: u16,
        /// The `data` member.
        data: SchemaFn,
    },
    /// An HTML page for a browser.
    Page,
    /// A `303 See Other` sending the browser on.
    Redirect,
    /// A static file of the docs page (HTML, CSS, JavaScript or an icon).
    File,
    /// Plain text (a webhook subscription's challenge echoed back).
    Text,
    /// The sandbox gateway's own JSON, not in the envelope (it plays a provider's API).
    Raw {
        /// 200 or 201.
        status: u16,
        /// The document.
        body: SchemaFn,
    },
}

/// What the document says about one route.
#[derive(Clone, Copy)]
pub struct Api {
    /// The request body.
    pub body: Body,
    /// The query parameters, if it reads any.
    pub query: Option<ParamsFn>,
    /// The successful answer.
    pub answer: Answer,
    /// Whether it answers a page of a list (and so reads `limit` and `starting_after`).
    pub paginated: bool,
    /// Whether it honours `Idempotency-Key`.
    pub idempotent: bool,
    /// Whether it refuses a request without `Idempotency-Key` (what it records must never be
    /// recorded twice by a retry).
    pub idempotency_required: bool,
    /// Errors it may answer beyond those of every route of its access level and shape.
    pub errors: &'static [ErrorCode],
    /// Whether it is the sandbox gateway's API, authenticated as a provider's is: HTTP Basic
    /// with the sandbox account's `api_key`.
    pub sandbox_key: bool,
    /// Whether it answers its data with a 503 too, while the platform is down.
    pub down_503: bool,
    /// Whether only a dashboard session (a bearer token) may call it, never a key pair.
    pub session_only: bool,
    /// Operations a client may call next with a value from the successful answer.
    pub links: &'static [Link],
}

/// A follow-up call: the operation `operation` takes `parameter` from the answer's body at
/// `pointer` (a JSON pointer, e.g. `/data/id`).
#[derive(Clone, Copy)]
pub struct Link {
    /// The link's name in the document.
    pub name: &'static str,
    /// The operation id called next.
    pub operation: &'static str,
    /// Its path parameter.
    pub parameter: &'static str,
    /// Where in the answer's body the value is.
    pub pointer: &'static str,
}

impl Link {
    /// `operation` with its `{id}` from the answer's `data.id`.
    pub const fn by_id(name: &'static str, operation: &'static str) -> Link {
        Link {
            name,
            operation,
            parameter: "id",
            pointer: "/data/id",
        }
    }

    /// `operation` with its `{order_id}` from a sandbox answer's `id` (outside the envelope).
    pub const fn sandbox_order(name: &'static str, operation: &'static str) -> Link {
        Link {
            name,
            operation,
            parameter: "order_id",
            pointer: "/id",
        }
    }
}

impl Api {
    /// Answers `data` of type `T` in the envelope, with `status`.
    pub const fn data<T: ToSchema>(status: u16) -> Api {
        Api::answering(Answer::Data {
            status,
            data: named::<T>,
        })
    }

    /// Answers a list of `T` in the envelope.
    pub const fn list<T: ToSchema>() -> Api {
        Api::answering(Answer::Data {
            status: 200,
            data: list_of::<T>,
        })
    }

    /// Answers a page of `T` in the envelope (cursor pagination).
    pub const fn page<T: ToSchema>() -> Api {
        let mut api = Api::answering(Answer::Data {
            status: 200,
            data: page_of::<T>,
        });
        api.paginated = true;
        api
    }

    /// Answers an HTML page.
    pub const fn html() -> Api {
        Api::answering(Answer::Page)
    }

    /// Answers a redirect.
    pub const fn redirect() -> Api {
        Api::answering(Answer::Redirect)
    }

    /// Answers a static file.
    pub const fn file() -> Api {
        Api::answering(Answer::File)
    }

    /// Answers plain text.
    pub const fn text() -> Api {
        Api::answering(Answer::Text)
    }

    /// Answers `T` as it is, outside the envelope.
    pub const fn raw<T: ToSchema>(status: u16) -> Api {
        Api::answering(Answer::Raw {
            status,
            body: named::<T>,
        })
    }

    /// Answers a list of `T` as it is, outside the envelope.
    pub const fn raw_list<T: ToSchema>() -> Api {
        Api::answering(Answer::Raw {
            status: 200,
            body: list_of::<T>,
        })
    }

    const fn answering(answer: Answer) -> Api {
        Api {
            body: Body::Empty,
            query: None,
            answer,
            paginated: false,
            idempotent: false,
            idempotency_required: false,
            errors: &[],
            sandbox_key: false,
            down_503: false,
            session_only: false,
            links: &[],
        }
    }

    /// Takes a JSON body of type `T`.
    pub const fn takes<T: ToSchema>(mut self) -> Api {
        self.body = Body::Json(named::<T>);
        self
    }

    /// Takes a JSON body of type `T`, or none.
    pub const fn may_take<T: ToSchema>(mut self) -> Api {
        self.body = Body::OptionalJson(named::<T>);
        self
    }

    /// Takes a form of type `T`.
    pub const fn form<T: ToSchema>(mut self) -> Api {
        self.body = Body::Form(named::<T>);
        self
    }

    /// Takes a gateway's signed callback.
    pub const fn callback(mut self) -> Api {
        self.body = Body::Callback;
        self
    }

    /// Reads the query parameters of `T`.
    pub const fn query<T: IntoParams>(mut self) -> Api {
        self.query = Some(params::<T>);
        self
    }

    /// Honours `Idempotency-Key`.
    pub const fn idempotent(mut self) -> Api {
        self.idempotent = true;
        self
    }

    /// Requires `Idempotency-Key` (and honours it).
    pub const fn requires_idempotency_key(mut self) -> Api {
        self.idempotent = true;
        self.idempotency_required = true;
        self
    }

    /// Is authenticated with a sandbox account's `api_key` (HTTP Basic).
    pub const fn sandbox_key(mut self) -> Api {
        self.sandbox_key = true;
        self
    }

    /// Answers its data with a 503 while the platform is down.
    pub const fn down_503(mut self) -> Api {
        self.down_503 = true;
        self
    }

    /// May be called only with a dashboard session's bearer token.
    pub const fn session_only(mut self) -> Api {
        self.session_only = true;
        self
    }

    /// Names the calls a client may make next with values from the answer.
    pub const fn links(mut self, links: &'static [Link]) -> Api {
        self.links = links;
        self
    }

    /// May also answer these errors.
    pub const fn fails(mut self, errors: &'static [ErrorCode]) -> Api {
        self.errors = errors;
        self
    }
}
