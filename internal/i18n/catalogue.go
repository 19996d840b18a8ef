package i18n

import "fmt"

// source is the catalogue: every key with its English and French text.
// Keys are grouped by who speaks: upgrade.* the upgrade's progress and
// outcomes, step.* the names of its steps, err.* the plain sentence of an
// error, cli.* the command line, web.* the console. Placeholders: see
// doc.go.
var source = []struct {
	key    Key
	en, fr string
}{
	// A text as it stands, not translated (an English record older than
	// the catalogue).
	{"text", "{text}", "{text}"},

	// What an operation is about: phrases other messages hold.
	{"subject.site", "the site", "le site"},
	{"subject.version", "version {version}", "la version {version}"},
	{"subject.number", "{version}", "la version {version}"},
	{"subject.previous", "the previous version", "la version précédente"},
	{"subject.before_ferry", "the version the site ran before ferry's first upgrade", "la version que le site utilisait avant la première mise à jour par ferry"},
	{"subject.upgrade_to", "an upgrade to {version:msg}", "une mise à jour vers {version:msg}"},
	{"subject.return_to", "a return to {version:msg}", "un retour à {version:msg}"},

	// Steps, as the console's progress names them.
	{"step.preflight", "checks", "vérifications"},
	{"step.load", "loading the programs", "chargement des programmes"},
	{"step.stop", "stopping the application", "arrêt de l'application"},
	{"step.backup", "backup", "sauvegarde"},
	{"step.switch", "switching to the new version", "passage à la nouvelle version"},
	{"step.start", "starting", "démarrage"},
	{"step.health", "health check", "vérification du bon fonctionnement"},
	{"step.commit", "finishing", "finalisation"},
	{"step.rollback", "putting back the previous version", "remise en place de la version précédente"},
	{"step.done", "done", "terminé"},

	// An upgrade.
	{"upgrade.already", "The site already runs {name} {version}; nothing to do.",
		"Le site utilise déjà {name} {version} ; rien à faire."},
	{"upgrade.preflight", "Checking that version {version} is complete, signed by a trusted publisher, and that the site is ready for it…",
		"Vérification que la version {version} est complète et signée par un éditeur de confiance, et que le site est prêt à la recevoir…"},
	{"upgrade.failed_before", "Note: version {version} failed on this site before; trying again because it was asked for.",
		"Remarque : la version {version} a déjà échoué sur ce site ; nouvel essai, puisqu'il a été demandé."},
	{"upgrade.restart_as_was", "Starting the site's application again, as it was…",
		"Redémarrage de l'application du site, telle qu'elle était…"},
	{"upgrade.stop", "Stopping the site's application so that nothing is entered during the backup (the database stays up)…",
		"Arrêt de l'application du site, pour que rien ne soit saisi pendant la sauvegarde (la base de données reste allumée)…"},
	{"upgrade.switch", "Switching the site's settings and programs to version {version} (the site's own settings and override files are kept)…",
		"Passage des réglages et des programmes du site à la version {version} (les réglages propres au site et ses fichiers de surcharge sont gardés)…"},
	{"upgrade.start", "Starting version {version}…", "Démarrage de la version {version}…"},
	{"upgrade.done", "Done: the site now runs {name} {version}.", "Terminé : le site utilise maintenant {name} {version}."},
	{"upgrade.not_made", "The upgrade to version {version} was not made; the site is as it was.",
		"La mise à jour vers la version {version} n'a pas été faite ; le site est comme avant."},
	{"upgrade.return_not_made", "The return to {version:msg} was not made; the site is as it was.",
		"Le retour à {version:msg} n'a pas été fait ; le site est comme avant."},

	// The backup.
	{"backup.db", "Saving a backup of the database (this can take a few minutes)…",
		"Sauvegarde de la base de données (cela peut prendre quelques minutes)…"},
	{"backup.settings", "Saving the configuration checksums and the site's settings…",
		"Sauvegarde des sommes de contrôle de la configuration et des réglages du site…"},
	{"backup.nothing", "Nothing to back up: this is the site's first install.",
		"Rien à sauvegarder : c'est la première installation du site."},
	{"backup.settings_only", "Backup of the site's settings saved (the site has no database service).",
		"Sauvegarde des réglages du site enregistrée (le site n'a pas de service de base de données)."},
	{"backup.saved", "Backup saved (database: {size:bytes}, in {took:duration}).",
		"Sauvegarde enregistrée (base de données : {size:bytes}, en {took:duration})."},
	{"backup.data", "Saving the application's data folder (attachments, search index: {size:bytes})…",
		"Sauvegarde du dossier de données de l'application (pièces jointes, index de recherche : {size:bytes})…"},

	// Loading the programs (images) into Docker.
	{"load.have_all", "Docker already has every program of version {version}.",
		"Docker a déjà tous les programmes de la version {version}."},
	{"load.start", "Loading {n:count} new {n|program|programs} of version {version} into Docker ({size:bytes})…",
		"Chargement de {n:count} {n|nouveau programme|nouveaux programmes} de la version {version} dans Docker ({size:bytes})…"},
	{"load.progress", "Loading into Docker: {done:bytes} of {total:bytes}…",
		"Chargement dans Docker : {done:bytes} sur {total:bytes}…"},
	{"load.done", "Loaded {n:count} {n|program|programs} into Docker.",
		"{n:count} {n|programme chargé|programmes chargés} dans Docker."},

	// The health gate.
	{"health.wait", "Waiting for {what:msg} to start and answer (up to {limit:duration})…",
		"En attente : {what:msg} doit démarrer et répondre (jusqu'à {limit:duration})…"},
	{"health.up", "{what:msg} is up and answers correctly (after {took:duration}).",
		"{what:msg} a démarré et répond correctement (après {took:duration})."},
	{"health.still", "Still waiting ({waited:duration} of {limit:duration}).",
		"Toujours en attente ({waited:duration} sur {limit:duration})."},

	// Putting the previous version back.
	{"rollback.auto", "Version {version} did not work. Putting back {prev:msg}…",
		"La version {version} n'a pas fonctionné. Remise en place de {prev:msg}…"},
	{"rollback.done", "Done: the site is back on {prev:msg}, exactly as before. The new version {version} will not be tried again on its own.",
		"Terminé : le site est revenu à {prev:msg}, exactement comme avant. La nouvelle version {version} ne sera pas réessayée automatiquement."},
	{"rollback.done_first", "Done: the first install of {version} was undone. It will not be tried again on its own.",
		"Terminé : la première installation de la version {version} a été annulée. Elle ne sera pas réessayée automatiquement."},
	{"rollback.preflight", "Checking that the site can go back to {prev:msg} (saved on {saved:date})…",
		"Vérification que le site peut revenir à {prev:msg} (sauvegardée le {saved:date})…"},
	{"rollback.start", "Putting back {prev:msg}. The database goes back to how it was before the upgrade to {version}; today's state is kept in backup {backup}.",
		"Remise en place de {prev:msg}. La base de données revient à son état d'avant la mise à jour vers la version {version} ; l'état d'aujourd'hui est gardé dans la sauvegarde {backup}."},
	{"rollback.load_lost", "Docker no longer has {n:count} of the programs of {prev:msg}; they will be loaded from ferry's store first.",
		"Docker n'a plus {n:count} des programmes de {prev:msg} ; ils seront d'abord chargés depuis le dépôt de ferry."},
	{"rollback.returned", "Done: the site is back on {prev:msg}. Version {version} will not be installed again on its own.",
		"Terminé : le site est revenu à {prev:msg}. La version {version} ne sera pas réinstallée automatiquement."},
	{"rollback.stop", "Stopping the new version…", "Arrêt de la nouvelle version…"},
	{"rollback.settings", "Putting back the previous settings…", "Remise en place des réglages précédents…"},
	{"rollback.db", "Putting back the database as it was before the upgrade (this can take a few minutes)…",
		"Remise en place de la base de données telle qu'elle était avant la mise à jour (cela peut prendre quelques minutes)…"},
	{"rollback.data", "Putting back the application's data folder ({size:bytes})…",
		"Remise en place du dossier de données de l'application ({size:bytes})…"},
	{"rollback.start_prev", "Starting the previous version…", "Démarrage de la version précédente…"},
	{"rollback.failed", "Putting back {prev:msg} failed. The site may be half on one version and half on another; the backup is in {backup}. Ask for help before changing anything.",
		"La remise en place de {prev:msg} a échoué. Le site est peut-être à moitié sur une version et à moitié sur l'autre ; la sauvegarde est dans {backup}. Demandez de l'aide avant de changer quoi que ce soit."},

	// Finishing or undoing what a crash interrupted.
	{"recover.dropped", "{what:msg} was interrupted before the site's settings, database or programs changed; it is dropped.",
		"L'opération ({what:msg}) a été interrompue avant que les réglages, la base de données ou les programmes du site ne changent ; elle est abandonnée."},
	{"recover.gone", "{what:msg} was interrupted (at the step: {step:msg}), and that version is no longer in ferry's store, so it cannot be finished. Putting the previous version back.",
		"L'opération ({what:msg}) a été interrompue (à l'étape : {step:msg}) et cette version n'est plus dans le dépôt de ferry : elle ne peut pas être terminée. Remise en place de la version précédente."},
	{"recover.forward", "{what:msg} was interrupted (at the step: {step:msg}). Finishing it: the new version gets its health check, and the previous one is put back if it fails.",
		"L'opération ({what:msg}) a été interrompue (à l'étape : {step:msg}). Elle est terminée maintenant : la nouvelle version est vérifiée, et la précédente est remise en place si elle ne fonctionne pas."},
	{"recover.rollback", "{what:msg} was interrupted while the previous version was being put back. Doing that again from the start.",
		"L'opération ({what:msg}) a été interrompue pendant la remise en place de la version précédente. Reprise depuis le début."},

	// The plain sentence of an error; its technical detail goes apart.
	{"err.busy", "Another upgrade or rollback of this site is running; wait for it to finish.",
		"Une autre mise à jour ou un autre retour en arrière de ce site est en cours ; attendez qu'il se termine."},
	{"err.not_newer", "This version is not newer than the one the site runs; nothing was changed.",
		"Cette version n'est pas plus récente que celle du site ; rien n'a été changé."},
	{"err.nothing_to_apply", "There is no new version to install; nothing was changed.",
		"Il n'y a pas de nouvelle version à installer ; rien n'a été changé."},
	{"err.preflight", "The site is not ready for this version; nothing was changed.",
		"Le site n'est pas prêt pour cette version ; rien n'a été changé."},
	{"err.rolled_back", "The upgrade failed and the site was put back as it was.",
		"La mise à jour a échoué et le site a été remis comme avant."},
	{"err.no_previous", "There is no earlier version to go back to; nothing was changed.",
		"Il n'y a pas de version antérieure à laquelle revenir ; rien n'a été changé."},
	{"err.docker", "Docker does not work on this machine; nothing was changed. Ask for help.",
		"Docker ne fonctionne pas sur cette machine ; rien n'a été changé. Demandez de l'aide."},
	{"err.unhealthy", "The site did not start correctly in time.", "Le site n'a pas démarré correctement à temps."},
	{"err.backup", "The backup is incomplete, so nothing was changed.", "La sauvegarde est incomplète, donc rien n'a été changé."},
	{"err.rollback_failed", "Putting the previous version back failed; someone must look at the site before anything else is changed.",
		"La remise en place de la version précédente a échoué ; quelqu'un doit examiner le site avant tout autre changement."},
	{"err.interrupted", "Stopped before the end; what was started is undone or finished at the next start.",
		"Arrêté avant la fin ; ce qui était commencé est annulé ou terminé au prochain démarrage."},
	{"err.failed", "The operation failed.", "L'opération a échoué."},

	// The command line.
	{"cli.details", "Details: {detail}", "Détails : {detail}"},
	{"cli.yes_no", "[y/N]", "[o/N]"},
	{"cli.rolled_back", "The upgrade failed and the site was put back as it was (the messages above say why; 'ferry upgrade log' keeps them).",
		"La mise à jour a échoué et le site a été remis comme avant (les messages ci-dessus disent pourquoi ; 'ferry upgrade log' les garde)."},
	{"cli.nothing_changed", "Nothing was changed.", "Rien n'a été changé."},
	{"cli.confirm_install", "Install {name} {version} on site \"{site}\"? The site will be unavailable for a few minutes while it starts.",
		"Installer {name} {version} sur le site « {site} » ? Le site sera indisponible quelques minutes pendant son démarrage."},
	{"cli.confirm_upgrade", "Upgrade site \"{site}\" from {from} to {name} {version}? The site will be unavailable for a few minutes while it restarts.",
		"Mettre à jour le site « {site} » de {from} vers {name} {version} ? Le site sera indisponible quelques minutes pendant son redémarrage."},
	{"cli.confirm_rollback", "Return site \"{site}\" from {version} to {prev:msg}? The database goes back to how it was before the upgrade to {version}; today's data is saved in a backup first.",
		"Ramener le site « {site} » de la version {version} à {prev:msg} ? La base de données revient à son état d'avant la mise à jour vers la version {version} ; les données d'aujourd'hui sont d'abord sauvegardées."},
	{"cli.status_attention", "ATTENTION: the site needs someone to look at it: {why:msg}",
		"ATTENTION : quelqu'un doit examiner le site : {why:msg}"},
	{"cli.status_site", "site:      {site} ({dir})", "site :        {site} ({dir})"},
	{"cli.status_runs", "runs:      {name} {version} (release {release}, since {since:date})",
		"utilise :     {name} {version} (version publiée {release}, depuis le {since:date})"},
	{"cli.status_runs_none", "runs:      no release installed by ferry yet", "utilise :     aucune version installée par ferry pour l'instant"},
	{"cli.status_previous", "previous:  {prev:msg} ('ferry rollback' returns to it)", "précédente :  {prev:msg} ('ferry rollback' y revient)"},
	{"cli.status_running", "running:   {what:msg}, at the step: {step:msg} (since {since:date})",
		"en cours :    {what:msg}, à l'étape : {step:msg} (depuis le {since:date})"},
	{"cli.status_last", "last:      {when:date}: {what:msg}", "dernière :    {when:date} : {what:msg}"},
	{"cli.status_failed", "failed:    {versions} (not tried again on their own)", "en échec :    {versions} (pas réessayées automatiquement)"},
	{"cli.status_backups", "backups:   {n:count}", "sauvegardes : {n:count}"},
}

// entry is a parsed catalogue text.
type entry struct{ en, fr []part }

var (
	catalogue = map[Key]entry{}
	// sourceErrors are the catalogue's mistakes, found when it is read;
	// catalogue_test.go requires none. A text with a mistake renders as
	// its key.
	sourceErrors []error
)

func init() {
	for _, s := range source {
		if _, dup := catalogue[s.key]; dup {
			sourceErrors = append(sourceErrors, fmt.Errorf("%s: defined twice", s.key))
			continue
		}
		en, err1 := parse(s.en)
		fr, err2 := parse(s.fr)
		if err1 != nil || err2 != nil {
			sourceErrors = append(sourceErrors, fmt.Errorf("%s: %v %v", s.key, err1, err2))
			continue
		}
		catalogue[s.key] = entry{en: en, fr: fr}
	}
}

// Known reports whether the catalogue has key.
func Known(key Key) bool {
	_, ok := catalogue[key]
	return ok
}

// Args returns the arguments key's text uses, with their kinds ("" for
// plain text; a plural form's argument is a "count"), or nil for an
// unknown key.
func Args(key Key) map[string]string {
	e, ok := catalogue[key]
	if !ok {
		return nil
	}
	return argsOf(e.en)
}

func argsOf(parts []part) map[string]string {
	out := map[string]string{}
	for _, p := range parts {
		if p.name == "" {
			continue
		}
		kind := p.kind
		if kind == "plural" {
			kind = "count"
		}
		if prev, ok := out[p.name]; ok && prev != kind {
			kind = prev + "," + kind // a conflict the test reports
		}
		out[p.name] = kind
	}
	return out
}
