//! `#[measure]`: times every call of a function into a tailwatch
//! operation. Use it as `tailwatch::measure` (feature `macros`, on by
//! default); the documentation is there.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, ItemFn, Lit, LitStr, ReturnType, Token, Type};

/// The attribute's arguments: nothing, `"name"`, or `name = "name"`.
struct Args {
    name: Option<LitStr>,
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.is_empty() {
            return Ok(Self { name: None });
        }
        if input.peek(LitStr) {
            let name: LitStr = input.parse()?;
            if !input.is_empty() {
                return Err(input.error("expected nothing after the operation name"));
            }
            return Ok(Self { name: Some(name) });
        }
        let key: syn::Ident = input.parse()?;
        if key != "name" {
            return Err(syn::Error::new(
                key.span(),
                "unknown argument: #[measure] takes `name = \"…\"` (or a string) only",
            ));
        }
        input.parse::<Token![=]>()?;
        let value: Expr = input.parse()?;
        let Expr::Lit(ExprLit {
            lit: Lit::Str(name),
            ..
        }) = value
        else {
            return Err(syn::Error::new(
                value.span(),
                "the operation name must be a string literal",
            ));
        };
        if !input.is_empty() {
            return Err(input.error("expected nothing after the operation name"));
        }
        Ok(Self { name: Some(name) })
    }
}

/// See `tailwatch::measure`.
#[proc_macro_attribute]
pub fn measure(attr: TokenStream, item: TokenStream) -> TokenStream {
    let args = syn::parse_macro_input!(attr as Args);
    let item: TokenStream2 = item.into();
    let func: ItemFn = match syn::parse2(item.clone()) {
        Ok(f) => f,
        Err(_) => {
            return syn::Error::new(
                Span::call_site(),
                "#[measure] goes on a function or method with a body",
            )
            .to_compile_error()
            .into();
        }
    };
    match expand(&args, func) {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

fn expand(args: &Args, mut func: ItemFn) -> syn::Result<TokenStream2> {
    let sig = &func.sig;
    if let Some(c) = &sig.constness {
        return Err(syn::Error::new(
            c.span(),
            "#[measure] cannot time a `const fn` (it may run at compile time)",
        ));
    }
    if let Some(v) = &sig.variadic {
        return Err(syn::Error::new(
            v.span(),
            "#[measure] cannot time a variadic function",
        ));
    }
    let name = match &args.name {
        Some(n) if n.value().trim().is_empty() => {
            return Err(syn::Error::new(n.span(), "the operation name is empty"));
        }
        Some(n) => quote!(#n),
        None => {
            let ident = sig.ident.to_string();
            let ident = ident.trim_start_matches("r#");
            quote!(::core::concat!(::core::module_path!(), "::", #ident))
        }
    };
    // The body's type, when it can be written (not `impl Trait`): `?`
    // inside the body then converts to it as in the original function.
    let ret: Option<Type> = match &sig.output {
        ReturnType::Default => Some(syn::parse_quote!(())),
        ReturnType::Type(_, t) if mentions_impl(t) => None,
        ReturnType::Type(_, t) => Some((**t).clone()),
    };
    let body = &func.block;
    let span = body.span();
    let typed = match &ret {
        Some(t) => quote_spanned!(span=> let __tailwatch_value: #t = #body; __tailwatch_value),
        None => quote_spanned!(span=> #body),
    };
    let private = quote!(::tailwatch::__private);
    let slot = quote! {
        static __TAILWATCH_OPERATION: #private::OperationSlot = #private::OperationSlot::new(#name);
    };
    let new_body = if sig.asyncness.is_some() {
        quote! {{
            #slot
            let __tailwatch_body = async move { #typed };
            #[allow(unused_imports)]
            use #private::{PickAlwaysOk as _, PickOutcome as _};
            let __tailwatch_rule = (&&#private::probe_output(&__tailwatch_body)).tailwatch_rule();
            #private::measure(__TAILWATCH_OPERATION.get(), __tailwatch_body, __tailwatch_rule).await
        }}
    } else {
        let closure_ret = match &ret {
            Some(t) => quote!(-> #t),
            None => quote!(),
        };
        quote! {{
            #slot
            let __tailwatch_timer = __TAILWATCH_OPERATION.get().start();
            #[allow(clippy::redundant_closure_call)]
            let __tailwatch_value = (move || #closure_ret { #typed })();
            #[allow(unused_imports)]
            use #private::{PickAlwaysOk as _, PickOutcome as _};
            let __tailwatch_rule = (&&#private::probe(&__tailwatch_value)).tailwatch_rule();
            if #private::is_error(&__tailwatch_value, __tailwatch_rule) {
                __tailwatch_timer.error();
            } else {
                __tailwatch_timer.ok();
            }
            __tailwatch_value
        }}
    };
    func.block = syn::parse2(new_body)?;
    Ok(quote!(#func))
}

/// Whether `t` contains `impl Trait` (which cannot be written as a type
/// of a `let` or a closure).
fn mentions_impl(t: &Type) -> bool {
    struct Find(bool);
    impl<'ast> syn::visit::Visit<'ast> for Find {
        fn visit_type_impl_trait(&mut self, _: &'ast syn::TypeImplTrait) {
            self.0 = true;
        }
    }
    let mut f = Find(false);
    syn::visit::visit_type(&mut f, t);
    f.0
}
