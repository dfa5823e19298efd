require ["vacation"];
vacation :days 1 :subject "Abwesenheitsnotiz: Unser Rundbrief im November" "Ich bin bis zum 3. Januar nicht im Büro. In dringenden Fällen: info@example.org";
