// Package i18n is ferry's message catalogue: every sentence the site's
// staff read — the upgrade's progress, its outcomes and errors, the CLI's
// questions, the console's pages — in English and French, from one source
// (catalogue.go).
//
// A Message is a key and its arguments, not a sentence: it is carried as
// such (in upgrade events, the audit log, the console's JSON) and put into
// words only where someone reads it, in that reader's language
// (Message.In). Its JSON form is {"key": K, "args": {NAME: VALUE}}, a
// VALUE being a string or, for an argument that is itself a phrase, a
// nested message.
//
// A catalogue text holds placeholders:
//
//	{name}             the argument as given (a version, a file name)
//	{name:count}       an integer, written as numbers are in the language
//	{name:bytes}       a size in bytes: "12 MB" / "12 Mo", "1.5 GB" / "1,5 Go"
//	{name:duration}    a Go duration: "1 minute 30 seconds" / "1 minute 30"
//	{name:date}        an RFC 3339 time, shown in local time
//	{name:msg}         a nested message (a phrase: "the previous version")
//	{name|one|other}   the form that agrees with the count argument name
//	                   (English: one for 1; French: one for 0 and 1)
//
// A rendered message starts with a capital letter, whatever its first
// placeholder holds.
//
// What always holds (catalogue_test.go checks it):
//
//   - Every key has an English and a French text, and both use the same
//     arguments with the same kinds.
//   - Every key the code names in a call of M is in the catalogue, with
//     the arguments its text uses.
//   - Rendering never fails: a missing key or argument shows as itself, so
//     that a message from a newer ferry (an audit log) is still readable.
//
// The language of a command is LANGUAGE, LC_ALL, LC_MESSAGES or LANG
// (FromEnv); that of a browser its Accept-Language (FromAcceptLanguage).
// English is the default.
package i18n
