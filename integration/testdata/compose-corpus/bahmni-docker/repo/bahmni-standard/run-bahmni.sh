# Run the bahmni script in the parent folder
../run-bahmni.sh "$1"
