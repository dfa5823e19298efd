require ["vacation"];
vacation :days 1 :subject "Réponse automatique : absence" "Je suis absente jusqu'au 3 janvier.";
