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

	// The site console.
	{"web.skip", "Skip to the page's content", "Aller au contenu de la page"},
	{"web.nav.label", "Console pages", "Pages de la console"},
	{"web.nav.home", "Site", "Site"},
	{"web.nav.history", "History", "Historique"},
	{"web.nav.nearby", "Nearby", "À proximité"},
	{"web.nav.settings", "Settings", "Réglages"},
	{"web.signout", "Sign out", "Se déconnecter"},
	{"web.details", "Details", "Détails"},
	{"web.back_home", "Back to the site's page", "Retour à la page du site"},

	{"web.signin.title", "Sign in", "Connexion"},
	{"web.signin.label", "Site password or PIN", "Mot de passe ou code du site"},
	{"web.signin.button", "Sign in", "Se connecter"},
	{"web.signin.wrong", "That password is not right. Try again.", "Ce mot de passe n'est pas le bon. Réessayez."},
	{"web.signin.locked", "Too many wrong tries. Wait {wait:duration}, then try again.", "Trop d'essais incorrects. Attendez {wait:duration}, puis réessayez."},
	{"web.signin.no_password", "No site password is set yet, so nobody can sign in.", "Aucun mot de passe de site n'est encore défini : personne ne peut se connecter."},
	{"web.signin.none_set", "No site password is set yet. Someone with access to this machine must set one with this command:",
		"Aucun mot de passe de site n'est encore défini. Une personne qui a accès à cette machine doit en définir un avec cette commande :"},

	{"web.err.title", "Something went wrong", "Un problème est survenu"},
	{"web.err.read", "The console could not read the node's state.", "La console n'a pas pu lire l'état du nœud."},
	{"web.err.signed_out", "You are signed out (after 30 minutes without use). Sign in again, then try again.",
		"Vous êtes déconnecté (après 30 minutes sans utilisation). Reconnectez-vous, puis réessayez."},
	{"web.err.form", "This request is not one the console knows.", "Cette demande n'est pas une demande que la console connaît."},
	{"web.err.csrf", "This request did not come from the console's own page, so it was refused. Nothing was changed.",
		"Cette demande ne venait pas d'une page de la console : elle a été refusée. Rien n'a été changé."},
	{"web.err.no_site", "This node does not look after a site.", "Ce nœud ne s'occupe d'aucun site."},
	{"web.err.no_release", "That version is not available for this site (any more).", "Cette version n'est pas (ou plus) disponible pour ce site."},

	{"web.home.title", "Your site", "Votre site"},
	{"web.home.now", "Running now", "En service"},
	{"web.home.since", "Installed on {date:date}", "Installée le {date:date}"},
	{"web.home.nothing", "No version installed by ferry yet", "Aucune version installée par ferry pour l'instant"},
	{"web.health.good", "Working normally", "Fonctionne normalement"},
	{"web.health.bad", "Not working normally", "Ne fonctionne pas normalement"},
	{"web.health.unknown", "Cannot tell: Docker does not answer", "Impossible à savoir : Docker ne répond pas"},
	{"web.home.busy", "An upgrade or a rollback is in progress.", "Une mise à jour ou un retour en arrière est en cours."},
	{"web.home.follow", "Follow it", "Suivre"},
	{"web.home.rollback", "Go back to {prev:msg}", "Revenir à {prev:msg}"},
	{"web.home.available", "New versions", "Nouvelles versions"},
	{"web.home.release_info", "{size:bytes}, published on {date:date}", "{size:bytes}, publiée le {date:date}"},
	{"web.home.upgrade", "Upgrade to {version}", "Mettre à jour vers {version}"},
	{"web.home.up_to_date", "No newer version is here. The site is up to date.", "Aucune version plus récente n'est arrivée. Le site est à jour."},
	{"web.home.no_site", "This node does not run a site: it keeps releases and passes them on to others.",
		"Ce nœud ne fait pas tourner de site : il garde les versions et les transmet aux autres."},
	{"web.home.arriving", "Arriving", "En cours d'arrivée"},
	{"web.home.nothing_arriving", "Nothing is arriving now.", "Rien n'arrive en ce moment."},
	{"web.home.percent", "{n:count} percent here", "{n:count} pour cent arrivés"},
	{"web.home.have", "{have:bytes} of {total:bytes} here", "{have:bytes} sur {total:bytes} arrivés"},
	{"web.home.from", "Coming from: {peers}", "En provenance de : {peers}"},
	{"web.home.waiting_peers", "Waiting for a node that holds it", "En attente d'un nœud qui la possède"},
	{"web.home.eta", "About {d:duration} to go", "Encore environ {d:duration}"},
	{"web.home.paused", "Paused; it continues when a node that holds it is near", "En pause ; l'arrivée reprend quand un nœud qui la possède est proche"},

	{"web.confirm.upgrade_title", "Upgrade to {version}?", "Mettre à jour vers {version} ?"},
	{"web.confirm.rollback_title", "Go back to the previous version?", "Revenir à la version précédente ?"},
	{"web.confirm.upgrade", "The site goes from version {from} to version {to}.", "Le site passe de la version {from} à la version {to}."},
	{"web.confirm.rollback", "The site goes back from version {from} to {to}.", "Le site revient de la version {from} à {to}."},
	{"web.confirm.down", "The site will be unavailable for a few minutes while it restarts: tell the people using it before you start.",
		"Le site sera indisponible quelques minutes pendant son redémarrage : prévenez les personnes qui l'utilisent avant de commencer."},
	{"web.confirm.safety", "A backup is saved first. If the new version does not work, the site is put back as it was.",
		"Une sauvegarde est faite d'abord. Si la nouvelle version ne fonctionne pas, le site est remis comme avant."},
	{"web.confirm.rollback_data", "The database goes back to how it was before the upgrade to {version}; what was entered since is kept in a backup first.",
		"La base de données revient à son état d'avant la mise à jour vers la version {version} ; ce qui a été saisi depuis est d'abord gardé dans une sauvegarde."},
	{"web.confirm.upgrade_go", "Upgrade now", "Mettre à jour maintenant"},
	{"web.confirm.rollback_go", "Go back now", "Revenir maintenant"},
	{"web.confirm.cancel", "Cancel", "Annuler"},

	{"web.progress.none", "No upgrade since the node started", "Aucune mise à jour depuis le démarrage du nœud"},
	{"web.progress.upgrade", "Upgrade", "Mise à jour"},
	{"web.progress.rollback", "Going back", "Retour en arrière"},
	{"web.progress.wait", "In progress: keep this page open, it follows each step.", "En cours : gardez cette page ouverte, elle suit chaque étape."},
	{"web.progress.loading", "Loading the programs", "Chargement des programmes"},
	{"web.progress.log", "What happened", "Ce qui s'est passé"},
	{"web.progress.done", "Done.", "Terminé."},
	{"web.progress.put_back", "The new version did not work: the site was put back as it was.", "La nouvelle version n'a pas fonctionné : le site a été remis comme avant."},

	{"web.history.title", "History", "Historique"},
	{"web.history.operations", "Last upgrades and rollbacks", "Dernières mises à jour et retours en arrière"},
	{"web.history.none", "No upgrade yet.", "Aucune mise à jour pour l'instant."},
	{"web.history.backups", "Backups kept", "Sauvegardes gardées"},
	{"web.history.taken", "Taken on", "Faite le"},
	{"web.history.version", "Version then", "Version à ce moment"},
	{"web.history.size", "Size", "Taille"},
	{"web.history.backups_total", "{n:count} {n|backup|backups}, {size:bytes} in all.", "{n:count} {n|sauvegarde|sauvegardes}, {size:bytes} en tout."},
	{"web.history.no_backups", "No backup yet: one is made before each upgrade.", "Aucune sauvegarde pour l'instant : une sauvegarde est faite avant chaque mise à jour."},
	{"web.outcome.upgraded", "Upgraded", "Mise à jour faite"},
	{"web.outcome.rolled_back", "Did not work, put back", "N'a pas fonctionné, remis comme avant"},
	{"web.outcome.returned", "Gone back", "Retour fait"},
	{"web.outcome.rollback_failed", "Putting back failed", "Échec de la remise en place"},
	{"web.outcome.interrupted", "Interrupted, nothing changed", "Interrompue, rien n'a changé"},
	{"web.outcome.not_made", "Not made, nothing changed", "Pas faite, rien n'a changé"},

	{"web.nearby.title", "Nodes nearby", "Nœuds à proximité"},
	{"web.nearby.no_mesh", "This node is not in a mesh (it was started without the organisation's mesh key), so it sees no other node.",
		"Ce nœud n'est pas dans un réseau ferry (il a été démarré sans la clé du réseau de l'organisation) : il ne voit aucun autre nœud."},
	{"web.nearby.none", "No other node is near right now.", "Aucun autre nœud n'est proche en ce moment."},
	{"web.nearby.map", "Map of the {n:count} {n|node|nodes} nearby", "Carte des {n:count} {n|nœud|nœuds} à proximité"},
	{"web.nearby.this", "This node", "Ce nœud"},
	{"web.nearby.runs", "Runs {what}", "Utilise {what}"},
	{"web.nearby.holds", "Holds {what}", "Possède {what}"},
	{"web.nearby.fetching", "Receiving {what}", "Reçoit {what}"},
	{"web.nearby.seen", "Heard from {ago:duration} ago", "Entendu il y a {ago:duration}"},
	{"web.nearby.seen_rtt", "Heard from {ago:duration} ago; answers in {ms:count} ms", "Entendu il y a {ago:duration} ; répond en {ms:count} ms"},
	{"web.role.site", "site", "site"},
	{"web.role.hub", "district hub", "relais de district"},
	{"web.role.courier", "courier laptop", "ordinateur de passage"},
	{"web.role.publisher", "publisher", "éditeur"},

	{"web.settings.title", "Settings", "Réglages"},
	{"web.settings.legend", "When is a new version installed?", "Quand une nouvelle version est-elle installée ?"},
	{"web.settings.manual", "Only when someone presses Upgrade", "Seulement quand quelqu'un appuie sur Mettre à jour"},
	{"web.settings.now", "As soon as it has fully arrived", "Dès qu'elle est arrivée en entier"},
	{"web.settings.window", "In a maintenance window", "Pendant une plage de maintenance"},
	{"web.settings.window_when", "Maintenance window", "Plage de maintenance"},
	{"web.settings.window_help", "Days and hours, local time: Sun 01:00-05:00, Mon-Fri 22:00-04:00, or 01:00-05:00 for every day.",
		"Jours et heures, heure locale (jours en anglais) : Sun 01:00-05:00, Mon-Fri 22:00-04:00, ou 01:00-05:00 pour tous les jours."},
	{"web.settings.save", "Save", "Enregistrer"},
	{"web.settings.saved", "Saved.", "Enregistré."},
	{"web.settings.bad", "This maintenance window cannot be read; nothing was changed.", "Cette plage de maintenance est illisible ; rien n'a été changé."},
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
